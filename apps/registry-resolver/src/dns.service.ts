import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DnsServer, DnsServerStats, startDnsServer } from '@wgmesh/dns-transport';
import type { Logger } from '@wgmesh/log';
import { dnsQueryMetrics, isDnsOutlier, traceDnsOutlier } from '@wgmesh/telemetry';
import type { ResolverConfig } from './config';
import { PeerTableService } from './peer-table.service';
import { CONFIG, LOGGER } from './tokens';

/** Serves DNS over UDP and TCP once the peer table has been loaded. */
@Injectable()
export class DnsService implements OnApplicationBootstrap, OnModuleDestroy {
  private server: DnsServer | null = null;
  private closing = false;
  private readonly started: { resolve: (port: number) => void; reject: (err: Error) => void; promise: Promise<number> };

  constructor(
    @Inject(CONFIG) private readonly config: ResolverConfig,
    private readonly table: PeerTableService,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    let resolve!: (port: number) => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<number>((res, rej) => ((resolve = res), (reject = rej)));
    this.started = { resolve, reject, promise };
  }

  /** Resolves with the port once the DNS server answers; rejects when it cannot bind. */
  get ready(): Promise<number> {
    return this.started.promise;
  }

  onApplicationBootstrap(): void {
    this.start().then(this.started.resolve, this.started.reject);
  }

  private async start(): Promise<number> {
    await this.table.mirror.start();
    if (this.closing) return 0;
    const { host, port } = this.config.listen;
    const responder = this.table.responder;
    const metrics = dnsQueryMetrics();
    // Per query: two clock reads and a few typed-array increments (no allocation). Queries are
    // counted, not traced: only a failed or slow one gets a span (docs/tracing.md).
    const respond = (q: Buffer, t: 'udp' | 'tcp') => {
      const started = performance.now();
      let reply;
      try {
        reply = responder.respond(q, t);
      } catch (err) {
        traceDnsOutlier({ transport: t, startedMs: started, durationMs: performance.now() - started, error: err });
        throw err;
      }
      const ms = performance.now() - started;
      metrics.record(t, responder.lastQtype, responder.lastRcode, ms / 1000);
      if (isDnsOutlier(ms)) traceDnsOutlier({ transport: t, startedMs: started, durationMs: ms, qtype: responder.lastQtype, rcode: responder.lastRcode });
      return reply;
    };
    this.server = await startDnsServer({ host, port, respond, log: this.log });
    this.log.info('resolver ready', {
      listen: `${host}:${this.server.port}`,
      zones: this.config.zone,
      peers: this.table.index.size,
      revision: this.table.mirror.revision,
    });
    return this.server.port;
  }

  /** The bound DNS port, once the server runs. */
  get port(): number | null {
    return this.server?.port ?? null;
  }

  /** The DNS server's counters (TCP connections, …), once it runs. */
  stats(): DnsServerStats | null {
    return this.server?.stats() ?? null;
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    await this.server?.close();
  }
}
