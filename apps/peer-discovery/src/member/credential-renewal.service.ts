import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { parseCredentialReply, Patterns } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { BusRef, RemoteError } from '@wgmesh/nats-transport';
import { readCreds } from '@wgmesh/nats-auth';
import { join } from 'node:path';
import { Enrollment, memberCredsPath, NATS_CREDS_FILE, natsUserKey, readEnrollment, renewalDelay, renewalRetryDelay, writeEnrollment, writeMemberCreds } from '@wgmesh/peer-discovery';
import type { PeerDiscoveryConfig } from '../config';
import { BUS_REF, CONFIG, ENROLLMENT, LOGGER } from '../tokens';

/** Retry when the credential file itself cannot be read. */
const RETRY_WITHOUT_CREDENTIAL_MS = 30_000;

/**
 * Keeps this member's NATS credential (`<state-dir>/nats.creds`) from running out: at two thirds
 * of its lifetime it asks the registry for a new one on its own `node.<id>.credential` (over the
 * tunnel, with the credential it still has) and writes it there. Every NATS connection of the
 * node reads that file when it (re)connects, so when the old credential expires and the server
 * closes a connection, the client reconnects at once with the new one: no restart. A registry
 * that says the member is no member any more (removed) is logged, and nothing is retried.
 */
@Injectable()
export class CredentialRenewalService implements OnApplicationBootstrap, OnModuleDestroy {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  readonly counters = { renewed: 0, failures: 0 };

  constructor(
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
    @Inject(ENROLLMENT) private enrollment: Enrollment,
    @Inject(BUS_REF) private readonly bus: BusRef,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onApplicationBootstrap(): void {
    // Only the credential enrolment wrote (a --nats-creds of the operator's own is theirs to renew).
    const path = memberCredsPath(this.config.stateDir);
    if (!path || (this.config.natsCreds !== undefined && this.config.natsCreds !== path)) return;
    this.schedule(renewalDelay(readCreds(path).jwt, Date.now()));
  }

  private schedule(delay: number | null): void {
    if (delay === null || this.stopped) return;
    this.timer = setTimeout(() => void this.renew(), delay);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    let current: string | null = null;
    try {
      current = readCreds(memberCredsPath(this.config.stateDir) ?? join(this.config.stateDir, NATS_CREDS_FILE)).jwt;
      const bus = await this.bus.ready;
      const reply = await bus.request(Patterns.credential, { natsKey: natsUserKey(this.config.stateDir).publicKey }, parseCredentialReply, { node: this.enrollment.name, timeoutMs: 10_000 });
      writeMemberCreds(this.config.stateDir, reply.natsJwt);
      // Onto the file as it is now (another service may have changed it since the start: the registries).
      this.enrollment = { ...(readEnrollment(this.config.stateDir) ?? this.enrollment), natsJwt: reply.natsJwt };
      writeEnrollment(this.config.stateDir, this.enrollment);
      this.counters.renewed++;
      const delay = renewalDelay(reply.natsJwt, Date.now());
      this.log.info('NATS credential renewed', { node: this.enrollment.name, nextRenewalInS: delay === null ? null : Math.round(delay / 1000) });
      this.schedule(delay);
    } catch (err) {
      this.counters.failures++;
      if (err instanceof RemoteError && err.code === 'not_member') {
        this.log.error('the registry renews no credential for this node: it is no member any more (removed?); enrol again with a new token', { error: err.message });
        return;
      }
      const retryInMs = current ? renewalRetryDelay(current, Date.now()) : RETRY_WITHOUT_CREDENTIAL_MS;
      this.log.warn('renewing the NATS credential failed; retrying', { error: (err as Error).message, retryInMs });
      this.schedule(retryInMs);
    }
  }

  onModuleDestroy(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
