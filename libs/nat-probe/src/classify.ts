import { networkInterfaces } from 'node:os';
import type { Logger } from '@wgmesh/log';
import { canonicalIp, formatIp, parseEndpoint, parseIp } from '@wgmesh/netaddr';
import type { StunAddress } from '@wgmesh/stun';
import { classifyObservations, isLocalMapping, NatClassification, NatObservations, TestResult, useOtherAddress } from './classify-observations';
import { IgnoreReason, StunUdpClient, TransactionResult } from './udp-client';

/**
 * NAT classification against a STUN server (RFC 5780 sections 4.3 and 4.4), every test from ONE
 * local UDP socket on a fresh port. Order matters: the filtering tests run before anything is sent
 * to the server's alternate address (RFC 5780 section 3.2: no binding towards it may exist yet),
 * then the mapping tests. Tests start at most one per `paceMs` (RFC 5780 section 5: no more than
 * ten new transactions a second), each retransmits with doubling RTO, and the whole run ends by
 * `timeoutMs`: what has not been observed by then is classified as unknown.
 */
export interface ClassifyOptions {
  /** The STUN server, "ip:port" / "[v6]:port" or an address. */
  server: string | StunAddress;
  /** The whole classification; default 3000 ms. */
  timeoutMs?: number;
  /** How long one test waits for its answer; default min(1000, timeoutMs / 3). Test I waits up to half the budget. */
  testTimeoutMs?: number;
  /** First retransmission; default 100 ms, doubling up to maxRtoMs (default 400 ms). */
  rtoMs?: number;
  maxRtoMs?: number;
  /** Minimum gap between the starts of two tests; default 100 ms (10 transactions a second). */
  paceMs?: number;
  /** Local address and port to probe from; default any address, a random free port. */
  localAddress?: string;
  localPort?: number;
  /**
   * Run the filtering tests (default true). Without them the classification is the mapping
   * behaviour alone (all `nat` needs), in a few round trips instead of the seconds the filtering
   * tests can wait for answers that a filtering NAT never lets through.
   */
  filtering?: boolean;
  /** SOFTWARE in our requests; default none. */
  software?: string;
  /**
   * The host's NAT lock (nat-probe's): resolves once held, with its release. Taken for test I's
   * first datagram, and for the mapping and allocation tests as one stretch (not during the
   * filtering tests, which open no mapping): no other new mapping of this host comes between
   * a punch's sample and its spray, nor between the mappings the port step is measured from.
   */
  natLock?: () => Promise<() => void>;
  log?: Logger;
}

export interface NatProbe {
  classification: NatClassification;
  observations: NatObservations;
  durationMs: number;
  /** Datagrams the client ignored (wrong source, unknown transaction, malformed…), by reason. */
  ignored: Record<IgnoreReason, number>;
}

export const DEFAULT_CLASSIFY_TIMEOUT_MS = 3000;
/** New mappings from fresh sockets after the mapping tests, to measure how ports are allocated. */
const ALLOCATION_TESTS = 2;

export function parseServer(server: string | StunAddress): StunAddress {
  if (typeof server !== 'string') return { ip: canonicalIp(server.ip), port: server.port };
  const e = parseEndpoint(server);
  return { ip: formatIp(e.ip), port: e.port };
}

/** Every address of this host's interfaces (canonical, without zone). */
export function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      try {
        out.push(canonicalIp(i.address.replace(/%.*$/, '')));
      } catch {
        // an address Node reports that we cannot parse: not one a STUN server can map to
      }
    }
  }
  return out;
}

export async function classifyNat(opts: ClassifyOptions): Promise<NatClassification> {
  return (await probeNat(opts)).classification;
}

/** Runs the tests and returns the classification with what was observed. Never rejects for network silence. */
export async function probeNat(opts: ClassifyOptions): Promise<NatProbe> {
  const server = parseServer(opts.server);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CLASSIFY_TIMEOUT_MS;
  const testTimeoutMs = opts.testTimeoutMs ?? Math.min(1000, Math.floor(timeoutMs / 3));
  const rtoMs = opts.rtoMs ?? 100;
  const maxRtoMs = opts.maxRtoMs ?? 400;
  const paceMs = opts.paceMs ?? 100;
  const started = performance.now();
  const deadline = started + timeoutMs;
  const family = parseIp(server.ip).family;
  const client = await StunUdpClient.open({ family, localAddress: opts.localAddress, localPort: opts.localPort, software: opts.software });
  const addresses = localAddresses();
  if (opts.localAddress && !addresses.includes(canonicalIp(opts.localAddress))) addresses.push(canonicalIp(opts.localAddress)); // e.g. 127.0.0.3, on lo by its /8 route
  const obs: NatObservations = { server, local: { addresses, port: client.local.port }, testI: { outcome: 'not-run' }, budgetMs: timeoutMs };

  let lastStart = -Infinity;
  /** Runs one test when its pace slot comes: undefined if `skipIf` turned true first, not-run if the budget is spent. */
  const test = async (t: { to: StunAddress; changeIp?: boolean; changePort?: boolean; expectFrom?: StunAddress; lockFirstSend?: boolean }, skipIf?: Promise<boolean>, via = client): Promise<(TestResult & { otherAddress?: StunAddress }) | undefined> => {
    const previous = lastStart;
    const wait = lastStart + paceMs - performance.now();
    const mine = (lastStart = Math.max(performance.now(), lastStart + paceMs));
    // Wait for this test's slot, unless `skipIf` turns true first (then give the slot back).
    const skip = await Promise.race([sleep(Math.max(0, wait)).then(() => false), ...(skipIf ? [skipIf.then((s) => s || new Promise<boolean>(() => undefined))] : [])]);
    if (skip) {
      if (lastStart === mine) lastStart = previous;
      return undefined;
    }
    const left = deadline - performance.now();
    if (left < Math.min(50, testTimeoutMs)) return { outcome: 'not-run' };
    // Test I may wait longer (up to half the budget): without its answer nothing else can run.
    const wait1 = previous === -Infinity ? Math.max(testTimeoutMs, Math.floor(timeoutMs / 2)) : testTimeoutMs;
    const release = t.lockFirstSend && opts.natLock ? await opts.natLock() : undefined;
    return toTestResult(await via.transaction({ ...t, rtoMs, maxRtoMs, timeoutMs: Math.min(wait1, left), onSent: release }));
  };
  let releaseStretch: (() => void) | undefined;
  /** From the first mapping test to the allocation tests, nothing else of this host opens a mapping. */
  const mappingStretch = async () => {
    if (opts.natLock && !releaseStretch) releaseStretch = await opts.natLock();
  };

  try {
    const { otherAddress: other, ...t1 } = (await test({ to: server, lockFirstSend: true })) ?? { outcome: 'not-run' as const };
    obs.testI = t1;
    if (other) obs.otherAddress = other;
    if (t1.outcome === 'mapped') {
      const use = useOtherAddress(server, other);
      const m1 = t1.mapped;
      const local = isLocalMapping(obs.local, m1);
      if (use.kind === 'two-ip') {
        // Filtering first (nothing sent to A2 yet); III runs alongside II unless II has answered by then.
        const changedBoth = use.other;
        const changedPort = { ip: server.ip, port: use.other.port };
        if (opts.filtering !== false) {
          const p2 = test({ to: server, changeIp: true, changePort: true, expectFrom: changedBoth });
          const p3 = test({ to: server, changePort: true, expectFrom: changedPort }, p2.then((r) => r?.outcome === 'mapped'));
          const [r2, r3] = await Promise.all([p2, p3]);
          if (r2) obs.filteringChangeIpPort = strip(r2);
          if (r3) obs.filteringChangePort = strip(r3);
        }
        if (!local) {
          const altIp = { ip: use.other.ip, port: server.port };
          await mappingStretch();
          const t2 = await test({ to: altIp });
          if (t2) obs.mappingAltIp = strip(t2);
          if (t2?.outcome === 'mapped' && !sameAddr(t2.mapped, m1)) {
            const t3 = await test({ to: use.other });
            if (t3) obs.mappingAltIpPort = strip(t3);
          }
        }
      } else if (use.kind === 'one-ip') {
        if (opts.filtering !== false) {
          const f = await test({ to: server, changePort: true, expectFrom: use.other });
          if (f) obs.filteringChangePort = strip(f);
        }
        if (!local) {
          await mappingStretch();
          const t = await test({ to: use.other });
          if (t) obs.mappingAltPort = strip(t);
        }
      }
      // A destination-dependent mapping: two more new mappings, from fresh sockets, tell whether
      // the NAT hands out ports in sequence (then they can be predicted).
      const dependent = [obs.mappingAltIp, obs.mappingAltPort].some((t) => t?.outcome === 'mapped' && !sameAddr(t.mapped, m1));
      const allocation: TestResult[] = [];
      for (let i = 0; dependent && i < ALLOCATION_TESTS; i++) {
        const another = await StunUdpClient.open({ family, localAddress: opts.localAddress, software: opts.software });
        try {
          const t = await test({ to: server }, undefined, another);
          if (t) allocation.push(strip(t));
        } finally {
          await another.close();
        }
      }
      if (allocation.length > 0) obs.allocation = allocation;
    }
  } finally {
    releaseStretch?.();
    await client.close();
  }
  const classification = classifyObservations(obs);
  const durationMs = Math.round(performance.now() - started);
  opts.log?.info('nat classified', { ...classification, durationMs, ignored: nonZero(client.ignored) });
  return { classification, observations: obs, durationMs, ignored: { ...client.ignored } };
}

/**
 * This host's mapping right now, as one Binding from a fresh socket shows it (a new mapping: under
 * a sequentially allocating NAT, the port just handed out, from which the next are predicted).
 * Null when the server does not answer in time.
 */
export async function sampleMapping(opts: { server: string | StunAddress; timeoutMs?: number; localAddress?: string }): Promise<StunAddress | null> {
  const server = parseServer(opts.server);
  const client = await StunUdpClient.open({ family: parseIp(server.ip).family, localAddress: opts.localAddress });
  try {
    const r = await client.transaction({ to: server, rtoMs: 100, maxRtoMs: 400, timeoutMs: opts.timeoutMs ?? 1000 });
    return r.outcome === 'mapped' ? r.mapped : null;
  } finally {
    await client.close();
  }
}

function toTestResult(r: TransactionResult): TestResult & { otherAddress?: StunAddress } {
  switch (r.outcome) {
    case 'mapped':
      return { outcome: 'mapped', mapped: r.mapped, from: r.from, rttMs: r.rttMs, transmissions: r.transmissions, ...(r.otherAddress ? { otherAddress: r.otherAddress } : {}) };
    case 'error':
      return { outcome: 'error', code: r.code, reason: r.reason };
    case 'timeout':
      return { outcome: 'timeout', waitedMs: r.waitedMs, transmissions: r.transmissions };
  }
}

function strip(r: TestResult & { otherAddress?: StunAddress }): TestResult {
  const { otherAddress: _ignored, ...rest } = r;
  return rest;
}

const sameAddr = (a: StunAddress, b: StunAddress) => a.port === b.port && canonicalIp(a.ip) === canonicalIp(b.ip);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nonZero = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).filter(([, n]) => n > 0));
