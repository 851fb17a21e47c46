import { Inject, Injectable } from '@nestjs/common';
import { NatReport, nodeOfSubject } from '@wgmesh/contracts';
import type { Logger } from '@wgmesh/log';
import type { PeerDiscoveryConfig } from '../config';
import { CONFIG, LOGGER } from '../tokens';
import { HubWatchService } from './hub-watch.service';
import { RegistryStores } from './registry.stores';

export type NatFeedResult = 'recorded' | 'unchanged' | 'rejected';

/**
 * Takes members' NAT reports (`node.<id>.nat`) into the peer table: the NAT is kept with the
 * member's enrolment record and published in its peer record (TXT `nat=`). A report counts only
 * when it comes on the node's own subject and names an enrolled member with that name and key.
 */
@Injectable()
export class NatFeedService {
  readonly counters = { recorded: 0, unchanged: 0, rejected: 0 };

  constructor(
    @Inject(CONFIG) private readonly config: PeerDiscoveryConfig,
    private readonly stores: RegistryStores,
    private readonly hub: HubWatchService,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  /** Records one report received on `subject`. */
  async report(report: NatReport, subject: string): Promise<NatFeedResult> {
    const subjectNode = nodeOfSubject(subject, this.config.mesh);
    const reject = (why: string): NatFeedResult => {
      this.counters.rejected++;
      this.log.warn('rejected a NAT report', { node: report.node, subjectNode, publicKey: report.publicKey, reason: why });
      return 'rejected';
    };
    if (subjectNode !== report.node) return reject('sent on another node\'s subject');
    const membership = this.stores.enrolment?.membership;
    if (!membership) return reject('this registry enrols no members');
    const member = await membership.byKey(report.publicKey);
    if (!member) return reject('no enrolled member has this key');
    if (member.name !== report.node) return reject(`the key belongs to member "${member.name}"`);
    if (member.nat === report.nat) {
      // Recorded already (by another registry of the mesh, which got the same report): ours to publish all the same.
      if (this.hub.natOf(report.publicKey) !== report.nat) {
        this.hub.setNat(report.publicKey, report.nat);
        this.hub.pokeSoon();
      }
      this.counters.unchanged++;
      return 'unchanged';
    }
    await membership.update(member.name, (m) => (m.publicKey === member.publicKey ? { ...m, nat: report.nat } : null));
    this.hub.setNat(report.publicKey, report.nat);
    this.hub.pokeSoon();
    this.counters.recorded++;
    this.log.info('member NAT recorded', { node: report.node, nat: report.nat, previous: member.nat ?? null, mapping: report.mapping, filtering: report.filtering, method: report.method });
    return 'recorded';
  }
}
