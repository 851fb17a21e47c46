import type { ApiDefinitions, MessageTableEntry } from '@wgmesh/vpp-api';

/**
 * The simulator's message ids, assigned as VPP does: the memclnt messages first, in their file's
 * order from 1 (so sockclnt_create is 15 and its reply 16, the two ids a client may hard-code),
 * then every other message. The other ids differ from a real VPP's (they depend on plugin load
 * order there), which is the point: clients must resolve them by name and CRC.
 */
export class SimMessageIds {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [''];

  constructor(readonly definitions: ApiDefinitions) {
    const all = [...definitions.messages.values()];
    const memclnt = all.filter((m) => m.module === 'memclnt');
    for (const m of [...memclnt, ...all.filter((m) => m.module !== 'memclnt')]) {
      this.ids.set(m.name, this.names.length);
      this.names.push(m.name);
    }
  }

  id(name: string): number {
    const id = this.ids.get(name);
    if (id === undefined) throw new Error(`vpp-sim: no message ${name} in the API definitions`);
    return id;
  }

  nameOf(id: number): string | undefined {
    return id > 0 ? this.names[id] : undefined;
  }

  get size(): number {
    return this.names.length - 1;
  }

  /**
   * sockclnt_create_reply's table: "<name>_<crc>" per message. Sent sorted by name, not by id
   * (VPP sends hash order), so a client that assumes ids in order fails here too.
   */
  table(): MessageTableEntry[] {
    return this.names
      .slice(1)
      .map((name, i) => ({ index: i + 1, name: `${name}_${this.definitions.message(name).crc.slice(2)}` }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
}
