import { Inject, Injectable, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { parseRegistriesMessage, Patterns, type RegistryInfo } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import { BusRef } from '@wgmesh/nats-transport';
import { Enrollment, readEnrollment, withRegistries, writeEnrollment } from '@wgmesh/peer-discovery';
import type { PeerDiscoveryConfig } from '../config';
import { MemberPeersService } from './member-peers.service';
import { BUS_REF, CONFIG, ENROLLMENT, LOGGER, REGISTRIES_CHANGED } from '../tokens';

/**
 * The mesh's registries as they are now, not only as they were at enrolment: asked of the
 * registry at the start (`registries.get`) and followed (`registries.events`). A list that
 * differs from this member's (a registry added after it enrolled, or taken out) is written to
 * `<state-dir>/enrollment.json`, where `member up` reads the registries it peers with, relays
 * through and connects to NATS at when it starts, and handed to `registriesChanged` when the
 * process has one (`member up`: it peers with an added registry, and drops a removed one, at
 * once). Without one (peer-discovery on its own) it takes effect at the next start.
 */
export type RegistriesChanged = (registries: RegistryInfo[]) => void;

@Injectable()
export class RegistriesFollowService implements OnApplicationBootstrap {
  readonly counters = { learned: 0, askFailures: 0 };

  constructor(
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
    @Inject(ENROLLMENT) private enrollment: Enrollment,
    @Inject(BUS_REF) private readonly bus: BusRef,
    @Inject(LOGGER) private readonly log: Logger,
    private readonly member: MemberPeersService,
    @Optional() @Inject(REGISTRIES_CHANGED) private readonly changed: RegistriesChanged | null = null,
  ) {}

  onApplicationBootstrap(): void {
    void this.ask();
  }

  /** What a registry says the list is (an event, or the reply at the start). */
  learn(registries: readonly RegistryInfo[]): void {
    const change = withRegistries(this.enrollment, registries);
    if (!change) return;
    this.enrollment = change.enrollment;
    this.counters.learned++;
    // Written only where this node's own enrolment is (never over another node's, nor made up).
    const onDisk = readEnrollment(this.config.stateDir);
    const written = onDisk !== null && onDisk.publicKey === this.enrollment.publicKey;
    if (written) writeEnrollment(this.config.stateDir, { ...onDisk, registries: change.enrollment.registries });
    const live = this.changed !== null;
    const how = live ? ': peering with them now' : written ? ': written to enrollment.json; restart "wgmesh member up" to peer with them' : '';
    this.log[live ? 'info' : 'warn'](`the mesh's registries changed since this member enrolled${how}`, {
      added: change.added.map((r) => r.id),
      removed: change.removed.map((r) => r.id),
      registries: registries.map((r) => r.id),
    });
    this.member.registriesChanged(change.enrollment.registries!);
    this.changed?.(change.enrollment.registries!.map((r) => ({ ...r })));
  }

  private async ask(): Promise<void> {
    try {
      const bus = await this.bus.ready;
      const reply = await bus.request(Patterns.registriesGet, {}, parseRegistriesMessage, { timeoutMs: 10_000 });
      this.learn(reply.registries);
    } catch (err) {
      // An older registry, or one without enrolment: the list from enrolment stands; events may still come.
      this.counters.askFailures++;
      this.log.debug("could not ask the registry for the mesh's registries", { error: (err as Error).message });
    }
  }
}
