import type { Logger } from '@wgmesh/log';
import { MeshBus } from '@wgmesh/nats-transport';
import { MapFeed } from './feed';
import { MapHttp } from './http';
import { MeshMap, RegistryInfo } from './mesh-map';
import { buildView, MapView } from './view';

export interface MeshMapServiceOptions {
  mesh: string;
  /** Bearer token the data paths require (beyond loopback); undefined: none. */
  token?: string;
  log: Logger;
}

export interface MeshMapStart {
  registry: RegistryInfo;
  /** The hub's dataplane-programmer node id. */
  registryNode: string;
  nats: string;
  natsCreds?: string;
}

/**
 * The map in a process: `http` goes on the HTTP endpoint from the start (the page answers
 * "starting" until then); `start` connects to NATS and feeds the map (see MapFeed).
 */
export class MeshMapService {
  readonly http: MapHttp;
  private map: MeshMap | null = null;
  private feed: MapFeed | null = null;
  private bus: MeshBus | null = null;
  private connection = 'live';

  constructor(private readonly opts: MeshMapServiceOptions) {
    this.http = new MapHttp({ source: this, token: opts.token });
  }

  view(): MapView | null {
    return this.map ? buildView(this.map, { status: this.connection }) : null;
  }

  async start(s: MeshMapStart): Promise<void> {
    const log = this.opts.log;
    this.bus = await MeshBus.connect({ servers: s.nats, creds: s.natsCreds, mesh: this.opts.mesh, name: 'wgmesh-mesh-map', logger: log });
    this.bus.status.subscribe((status) => {
      this.connection = status === 'reconnected' ? 'live' : `NATS ${status}: the map shows what it had`;
      this.http.changed();
    });
    this.map = new MeshMap({ mesh: this.opts.mesh, registry: s.registry });
    this.feed = await MapFeed.start({ map: this.map, bus: this.bus, registryNode: s.registryNode, log, changed: () => this.http.changed() });
    this.http.changed();
  }

  async close(): Promise<void> {
    this.http.close();
    this.feed?.close();
    await this.bus?.close();
  }
}
