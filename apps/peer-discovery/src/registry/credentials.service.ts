import { natsServers } from '@wgmesh/nats-transport';
import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { CredentialReply, CredentialRequest, ErrorReply } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { AccountAdmin, credentialOptions, Issuer, loadIssuer, pushAccountJwt } from '@wgmesh/nats-auth';
import { connect, type NatsConnection } from 'nats';
import { DEFAULT_NATS, type PeerDiscoveryConfig } from '../config';
import { CONFIG, LOGGER } from '../tokens';
import { RegistryStores } from './registry.stores';

/** With a NATS cluster, how often the mesh account is pushed again. */
const CLUSTER_REPUSH_MS = 30_000;
/** Retry of a failed account push (revocations must reach nats-server). */
const PUSH_RETRY_MS = 5000;

/**
 * Members' NATS credentials, when the registry runs NATS with authentication (--nats-auth): it
 * issues them (at enrolment, and renewed over `node.<id>.credential`), each expiring after
 * --member-credential-ttl and bound to the member's tunnel address; it revokes a removed
 * member's by listing its NATS key in the mesh account's JWT, re-signed and pushed to nats-server
 * as the system account's user (the server closes its connections at once and refuses it
 * after). The account is pushed again whenever that connection comes back (a restarted
 * nats-server forgets pushed updates) and written to auth.conf for the next start.
 */
@Injectable()
export class CredentialsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly issuer?: Issuer;
  private readonly admin?: AccountAdmin;
  private system: NatsConnection | null = null;
  private pushing: Promise<void> = Promise.resolve();
  private repush: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  private stopped = false;
  readonly counters = { issued: 0, renewed: 0, refused: 0, revoked: 0, pushes: 0, pushFailures: 0 };

  constructor(
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
    private readonly stores: RegistryStores,
    @Inject(LOGGER) private readonly log: Logger,
  ) {
    if (!config.natsAuth) return;
    this.issuer = loadIssuer(config.natsAuth);
    if (this.issuer.mesh !== config.mesh) throw new Error(`--nats-auth ${config.natsAuth} is the authority of mesh "${this.issuer.mesh}", not "${config.mesh}"`);
    if (stores.enrolment) this.admin = AccountAdmin.load(config.natsAuth);
  }

  /** True when enrolment hands out NATS credentials (and so needs the member's NATS key). */
  get enabled(): boolean {
    return this.issuer !== undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.admin) return;
    this.system = await connect({
      servers: natsServers(this.config.nats ?? DEFAULT_NATS),
      name: 'wgmesh-registry-system',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
      ...credentialOptions(this.admin.systemCredentials),
    });
    void (async () => {
      for await (const s of this.system!.status()) if (s.type === 'reconnect') this.push('NATS reconnected');
    })();
    this.push('start');
    // A NATS cluster: a server that restarts comes back with the account of its own auth.conf, and
    // our connection (to another server) sees no reconnect; pushing now and then brings it the
    // revocations (every server of the cluster takes each push).
    if (natsServers(this.config.nats ?? DEFAULT_NATS).length > 1) {
      this.repush = setInterval(() => void this.push('periodic (NATS cluster)'), CLUSTER_REPUSH_MS);
      this.repush.unref();
    }
  }

  /** A member's credential: its node's subjects only, from its tunnel address only, until the TTL. */
  issue(name: string, natsKey: string, address: string): string | undefined {
    if (!this.issuer) return undefined;
    this.counters.issued++;
    return this.issuer.memberJwt(name, natsKey, { src: [address], expiresAt: Date.now() + this.config.memberCredentialTtl * 1000 });
  }

  /** `node.<id>.credential`: a fresh credential for the member named `node`, for the NATS key it enrolled with. */
  async renew(node: string, req: CredentialRequest): Promise<CredentialReply | ErrorReply> {
    const refuse = (code: string, message: string): ErrorReply => {
      this.counters.refused++;
      this.log.warn('credential renewal refused', { node, natsKey: req.natsKey, reason: message });
      return { error: { code, message } };
    };
    if (!this.issuer || !this.stores.enrolment) return refuse('unavailable', 'this registry issues no NATS credentials (it runs without --nats-auth)');
    const member = await this.stores.enrolment.membership.get(node);
    if (!member) return refuse('not_member', `no member is named "${node}" (removed?): enrol again with a new token`);
    if (member.natsKey !== req.natsKey) return refuse('not_member', `"${node}" is enrolled with another NATS key: enrol again with a new token`);
    this.counters.renewed++;
    this.log.info('member credential renewed', { node, ttlS: this.config.memberCredentialTtl });
    return { natsJwt: this.issue(node, member.natsKey, this.stores.enrolment.plan.hostPrefix(member.address))! };
  }

  /** A removed member's credential is revoked: recorded in the store of record, then pushed to nats-server. */
  async revoke(name: string, natsKey: string | undefined): Promise<void> {
    if (!natsKey || !this.admin || !this.stores.enrolment) return;
    await this.stores.enrolment.revocations.add(natsKey, { at: Math.floor(Date.now() / 1000), name });
    this.counters.revoked++;
    await this.push(`revoke ${name}`);
  }

  /** A key enrolled again: its old revocation would refuse a new credential issued within the same second; it goes, and nats-server is told. */
  async readmit(natsKey: string | undefined): Promise<void> {
    if (!natsKey || !this.admin || !this.stores.enrolment) return;
    if (await this.stores.enrolment.revocations.remove(natsKey)) await this.push('readmit');
  }

  /** Signs the account with the current revocations, saves it for the next nats-server start and pushes it; one at a time, retried while it fails. */
  private push(why: string): Promise<void> {
    const run = async () => {
      const admin = this.admin!;
      const nowS = Math.floor(Date.now() / 1000);
      // A revocation guards only credentials issued before it; older than the longest lifetime, all have expired.
      const revocations = await this.stores.enrolment!.revocations.current(nowS, this.config.memberCredentialTtl + 3600);
      const jwt = admin.accountJwt(revocations);
      try {
        admin.save(jwt);
      } catch (err) {
        // A read-only state directory (a container's): the running nats-server gets it anyway, and the next push after a restart.
        this.log.warn('cannot write the mesh account into auth.conf; a restarted nats-server gets the revocations at the registry\'s next push', { error: (err as Error).message });
      }
      await pushAccountJwt(this.system!, admin.info.account, jwt);
      this.counters.pushes++;
      this.log.info('mesh account pushed to nats-server', { why, revocations: Object.keys(revocations).length });
    };
    this.pushing = this.pushing.then(run).catch((err: Error) => {
      this.counters.pushFailures++;
      this.log.error('pushing the mesh account to nats-server failed; retrying', { why, error: err.message, retryInMs: PUSH_RETRY_MS });
      if (!this.stopped && !this.retry) {
        this.retry = setTimeout(() => {
          this.retry = null;
          void this.push(`retry (${why})`);
        }, PUSH_RETRY_MS);
      }
    });
    return this.pushing;
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.repush) clearInterval(this.repush);
    await this.system?.close();
  }
}
