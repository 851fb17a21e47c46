import { ApiDefinitions } from './definitions';
import { VppMessageUnavailableError } from './errors';

/** One entry of `sockclnt_create_reply.message_table`: `name` is "<message>_<crc hex>". */
export interface MessageTableEntry {
  readonly index: number;
  readonly name: string;
}

/**
 * Message ids of one running VPP. Ids depend on the plugins loaded and their order, so each
 * is resolved by name + CRC: a message whose CRC differs from our definitions is not usable.
 */
export class MessageTable {
  private readonly byName = new Map<string, { crc: string; id: number }>();
  private readonly ids = new Map<string, number>();
  private readonly names = new Map<number, string>();
  private readonly vppNames = new Map<number, string>();

  constructor(
    entries: Iterable<MessageTableEntry>,
    readonly definitions: ApiDefinitions,
  ) {
    for (const e of entries) {
      const m = /^(.+)_([0-9a-fA-F]{8})$/.exec(e.name);
      if (!m) continue;
      const crc = `0x${m[2].toLowerCase()}`;
      this.byName.set(m[1], { crc, id: e.index });
      this.vppNames.set(e.index, e.name);
      const ours = definitions.messages.get(m[1]);
      if (ours && ours.crc === crc) {
        this.ids.set(m[1], e.index);
        this.names.set(e.index, m[1]);
      }
    }
  }

  /** Number of messages usable: in both VPP's table and our definitions, with the same CRC. */
  get size(): number {
    return this.ids.size;
  }

  /** True when VPP has `name` with our CRC. */
  has(name: string): boolean {
    return this.ids.has(name);
  }

  /** The id of `name`; VppMessageUnavailableError (ours vs VPP's CRC, or absent) when not usable. */
  id(name: string): number {
    const id = this.ids.get(name);
    if (id !== undefined) return id;
    const ours = this.definitions.message(name).crc;
    throw new VppMessageUnavailableError(name, ours, this.byName.get(name)?.crc ?? null);
  }

  /** The message name of an id in VPP's table, when our definitions know it with the same CRC. */
  nameOf(id: number): string | undefined {
    return this.names.get(id);
  }

  /** The "name_crc" VPP's table has for an id, whatever our definitions say. */
  vppNameOf(id: number): string | undefined {
    return this.vppNames.get(id);
  }

  /** What VPP's table says about a name (for diagnostics), whatever our CRC. */
  vppEntry(name: string): { crc: string; id: number } | undefined {
    return this.byName.get(name);
  }

  /** Throws for the first of `names` that is not usable. */
  require(names: Iterable<string>): void {
    for (const n of names) this.id(n);
  }
}
