import { randomBytes } from 'node:crypto';
import { LabSpecError } from './errors';

/**
 * The lab's address plan, computed from a spec without touching the machine: which namespaces
 * exist, which veth pairs join them, and every address and route. Everything here is pure, so
 * the plan can be tested (and printed by `lab status`) without root.
 *
 *   registry        203.0.113.1/24            public, relay (ip_forward=1, send_redirects=0)
 *                   203.0.113.2/24            its second address (STUN RFC 5780 alternate IP)
 *   internet        203.0.113.254/24 + 198.51.100.254/24 on bridge br0 (the "ISP router")
 *   registry k (2,3) 203.0.113.(2k-1)/24, alternate 203.0.113.(2k)/24   (`--registries 2`: a second registry host)
 *   store           203.0.113.9/24            with several registries: the third NATS node and Redis
 *   member k public 203.0.113.(10+k)/24
 *   nat-<m> (k)     WAN 198.51.100.(10+k)/24, LAN 172.16.k.1/24
 *   member k behind 172.16.k.2/24, default via 172.16.k.1
 *
 * k is the member's 1-based position in the spec.
 */

/**
 * eim: endpoint-independent mapping (MASQUERADE). edm: endpoint-dependent, a random port per
 * destination (MASQUERADE --random-fully). seq: endpoint-dependent, ports handed out in sequence
 * (SNAT to one port after another), the kind port prediction can punch through.
 */
export type NatMode = 'eim' | 'edm' | 'seq';
export type MemberNat = NatMode | 'public';
export const NAT_MODES: readonly NatMode[] = ['eim', 'edm', 'seq'];
export const MEMBER_NATS: readonly MemberNat[] = [...NAT_MODES, 'public'];
/** "eim, edm, seq or public", for messages. */
export const MEMBER_NATS_TEXT = `${MEMBER_NATS.slice(0, -1).join(', ')} or ${MEMBER_NATS.at(-1)}`;

/** What carries a node's WireGuard: wireguard-go in the node's namespace, or a VPP that owns the node's uplink (see vpp-node.ts). */
export type Dataplane = 'wireguard-go' | 'vpp';
export const DATAPLANES: readonly Dataplane[] = ['wireguard-go', 'vpp'];

export interface MemberSpec {
  name: string;
  nat: MemberNat;
  /** Default wireguard-go. */
  dataplane?: Dataplane;
}

export interface LabSpec {
  members: MemberSpec[];
  /** The registry's dataplane; default wireguard-go. */
  registryDataplane?: Dataplane;
  /**
   * Registry hosts (1-3; default 1). With more than one: "registry", "registry2", … each with its
   * own hub, and a "store" host with the third node of the NATS cluster and Redis.
   */
  registries?: number;
  /** 1-6 characters [a-z0-9]; random when absent. Part of every namespace and device name. */
  id?: string;
}

export type Role = 'internet' | 'registry' | 'router' | 'member' | 'store';

export interface Host {
  /** "internet", "registry", a member's name, or "nat-<member>" for the router in front of it. */
  readonly name: string;
  readonly role: Role;
  /** The network namespace: wgl-<id>-<name>. */
  readonly ns: string;
  /** Its own address (a router's WAN address; a NAT'd member's LAN address). */
  readonly address: string;
  /** The address the internet sees for it (a NAT'd member: its router's WAN address). */
  readonly publicAddress: string;
  /** Member k / router k: the member's 1-based position in the spec; registry k (1 for "registry"). */
  readonly index?: number;
  /** Members: the NAT in front of them, or "public". Routers: their initial mode. */
  readonly nat?: MemberNat;
  /** A NAT'd member's router host. */
  readonly router?: string;
  /** A router's member. */
  readonly member?: string;
  /** A router's LAN side: its address and prefix. */
  readonly lan?: { address: string; cidr: string };
  /** Members and the registry: what carries their WireGuard (wireguard-go when absent). */
  readonly dataplane?: Dataplane;
}

export interface LinkEnd {
  host: string;
  ifname: string;
  /** address/prefix, or none (a bridge port). */
  cidr?: string;
}

/** One veth pair; `a` is created first and (for the internet side) enslaved to the bridge. */
export interface Link {
  a: LinkEnd & { bridge?: string };
  b: LinkEnd;
}

export interface Plan {
  id: string;
  hosts: Host[];
  links: Link[];
  /** host name → default gateway. */
  gateways: Record<string, string>;
  /** The internet namespace's bridge and its addresses. */
  bridge: { ifname: string; cidrs: string[] };
}

export const INTERNET = 'internet';
export const REGISTRY = 'registry';
export const BRIDGE = 'br0';
/** Interface names inside the namespaces: fixed, since each namespace is the lab's own. */
export const IF = { uplink: 'eth0', wan: 'wan', lan: 'lan' } as const;

export const ADDR = {
  internetPublic: '203.0.113.254',
  internetNat: '198.51.100.254',
  registry: '203.0.113.1',
  /** The registry's second address (same interface): the STUN server's alternate IP for RFC 5780. */
  registryAlt: '203.0.113.2',
  /** Registry host k (1: "registry"), and its second address. */
  registryN: (k: number) => `203.0.113.${2 * k - 1}`,
  registryAltN: (k: number) => `203.0.113.${2 * k}`,
  /** The store host (third NATS node, Redis) of a lab with several registries. */
  store: '203.0.113.9',
  publicMember: (k: number) => `203.0.113.${10 + k}`,
  routerWan: (k: number) => `198.51.100.${10 + k}`,
  routerLan: (k: number) => `172.16.${k}.1`,
  natMember: (k: number) => `172.16.${k}.2`,
  lanCidr: (k: number) => `172.16.${k}.0/24`,
} as const;

export const MAX_MEMBERS = 100;
export const MAX_REGISTRIES = 3;
export const STORE = 'store';

/** The host name of registry k (1-based): "registry", "registry2", "registry3". */
export function registryHostName(k: number): string {
  return k === 1 ? REGISTRY : `${REGISTRY}${k}`;
}
const ID = /^[a-z0-9]{1,6}$/;
const MEMBER_NAME = /^[a-z][a-z0-9]{0,15}$/;
const RESERVED = new Set([INTERNET, REGISTRY, 'registry2', 'registry3', 'store', 'inet', 'all']);

export function newLabId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(4), (b) => alphabet[b % alphabet.length]).join('');
}

export function checkLabId(id: string): string {
  if (typeof id !== 'string' || !ID.test(id)) throw new LabSpecError(`lab id "${id}" must be 1-6 characters a-z, 0-9`);
  return id;
}

export function namespaceName(id: string, host: string): string {
  return `wgl-${id}-${host}`;
}

/** Every namespace of lab `id` starts with this. */
export function namespacePrefix(id: string): string {
  return `wgl-${id}-`;
}

/**
 * WireGuard device names must be unique on the whole machine (the UAPI socket directory
 * /var/run/wireguard is shared by all namespaces) and at most 15 characters: "wl<id>-<tag><suffix>"
 * with tag r (registry), m<k> (member k), n<k> (router k), i (internet). The "-" keeps two labs'
 * names apart whatever their ids.
 */
export function devicePrefix(id: string): string {
  return `wl${id}-`;
}

export function deviceName(id: string, host: Host, suffix = ''): string {
  if (!/^[a-z0-9]{0,2}$/.test(suffix)) throw new LabSpecError(`device suffix "${suffix}" must be 0-2 characters a-z, 0-9`);
  const tag =
    host.role === 'registry' ? `r${(host.index ?? 1) > 1 ? host.index : ''}` : host.role === 'internet' ? 'i' : host.role === 'store' ? 's' : `${host.role === 'router' ? 'n' : 'm'}${host.index}`;
  const name = `${devicePrefix(id)}${tag}${suffix}`;
  if (name.length > 15) throw new LabSpecError(`device name "${name}" is longer than 15 characters`);
  return name;
}

/** "a:eim,b:edm:vpp,c:public" (the CLI's --members) → member specs; a third field picks the dataplane. */
export function parseMembers(text: string): MemberSpec[] {
  if (typeof text !== 'string' || text.trim() === '') throw new LabSpecError('members must be a list like "a:eim,b:edm:vpp,c:public"');
  return text.split(',').map((item) => {
    const m = /^\s*([^:\s]+)\s*:\s*([a-z]+)\s*(?::\s*([a-z-]+)\s*)?$/.exec(item);
    if (!m) throw new LabSpecError(`member "${item.trim()}" must be <name>:<${MEMBER_NATS.join('|')}>[:<${DATAPLANES.join('|')}>]`);
    return m[3] === undefined ? { name: m[1], nat: m[2] as MemberNat } : { name: m[1], nat: m[2] as MemberNat, dataplane: m[3] as Dataplane };
  });
}

export function checkSpec(spec: LabSpec): LabSpec {
  if (!spec || !Array.isArray(spec.members)) throw new LabSpecError('a lab spec needs members: [{ name, nat }]');
  if (spec.members.length > MAX_MEMBERS) throw new LabSpecError(`a lab holds at most ${MAX_MEMBERS} members (got ${spec.members.length})`);
  const seen = new Set<string>();
  for (const m of spec.members) {
    if (!m || typeof m.name !== 'string' || !MEMBER_NAME.test(m.name) || RESERVED.has(m.name)) {
      throw new LabSpecError(`member name "${m?.name}" must be 1-16 characters a-z, 0-9, starting with a letter, and not ${[...RESERVED].join(', ')}`);
    }
    if (seen.has(m.name)) throw new LabSpecError(`member name "${m.name}" is used twice`);
    seen.add(m.name);
    if (!MEMBER_NATS.includes(m.nat)) throw new LabSpecError(`member "${m.name}": nat "${m.nat}" must be ${MEMBER_NATS_TEXT}`);
    if (m.dataplane !== undefined && !DATAPLANES.includes(m.dataplane)) throw new LabSpecError(`member "${m.name}": dataplane "${m.dataplane}" must be ${DATAPLANES.join(' or ')}`);
  }
  if (spec.registryDataplane !== undefined && !DATAPLANES.includes(spec.registryDataplane)) throw new LabSpecError(`registry dataplane "${spec.registryDataplane}" must be ${DATAPLANES.join(' or ')}`);
  if (spec.id !== undefined) checkLabId(spec.id);
  if (spec.registries !== undefined && (!Number.isInteger(spec.registries) || spec.registries < 1 || spec.registries > MAX_REGISTRIES)) {
    throw new LabSpecError(`registries must be 1-${MAX_REGISTRIES} (got ${spec.registries})`);
  }
  if ((spec.registries ?? 1) > 1 && spec.registryDataplane === 'vpp') throw new LabSpecError('several registries run on wireguard-go only (not --registry-dataplane vpp)');
  return spec;
}

export function routerName(member: string): string {
  return `nat-${member}`;
}

export function planLab(spec: LabSpec, id: string): Plan {
  checkSpec(spec);
  checkLabId(id);
  const ns = (name: string) => namespaceName(id, name);
  const hosts: Host[] = [
    { name: INTERNET, role: 'internet', ns: ns(INTERNET), address: ADDR.internetPublic, publicAddress: ADDR.internetPublic },
    { name: REGISTRY, role: 'registry', ns: ns(REGISTRY), address: ADDR.registry, publicAddress: ADDR.registry, ...dataplaneOf(spec.registryDataplane) },
  ];
  const links: Link[] = [{ a: { host: INTERNET, ifname: 'reg', bridge: BRIDGE }, b: { host: REGISTRY, ifname: IF.uplink, cidr: `${ADDR.registry}/24` } }];
  const gateways: Record<string, string> = { [REGISTRY]: ADDR.internetPublic };
  const registries = spec.registries ?? 1;
  for (let k = 2; k <= registries; k++) {
    const name = registryHostName(k);
    hosts.push({ name, role: 'registry', ns: ns(name), address: ADDR.registryN(k), publicAddress: ADDR.registryN(k), index: k });
    links.push({ a: { host: INTERNET, ifname: `reg${k}`, bridge: BRIDGE }, b: { host: name, ifname: IF.uplink, cidr: `${ADDR.registryN(k)}/24` } });
    gateways[name] = ADDR.internetPublic;
  }
  if (registries > 1) {
    hosts.push({ name: STORE, role: 'store', ns: ns(STORE), address: ADDR.store, publicAddress: ADDR.store });
    links.push({ a: { host: INTERNET, ifname: 'sto', bridge: BRIDGE }, b: { host: STORE, ifname: IF.uplink, cidr: `${ADDR.store}/24` } });
    gateways[STORE] = ADDR.internetPublic;
  }

  spec.members.forEach((m, i) => {
    const k = i + 1;
    if (m.nat === 'public') {
      const address = ADDR.publicMember(k);
      hosts.push({ name: m.name, role: 'member', ns: ns(m.name), address, publicAddress: address, index: k, nat: 'public', ...dataplaneOf(m.dataplane) });
      links.push({ a: { host: INTERNET, ifname: `m${k}`, bridge: BRIDGE }, b: { host: m.name, ifname: IF.uplink, cidr: `${address}/24` } });
      gateways[m.name] = ADDR.internetPublic;
      return;
    }
    const router = routerName(m.name);
    const wan = ADDR.routerWan(k);
    hosts.push({
      name: router,
      role: 'router',
      ns: ns(router),
      address: wan,
      publicAddress: wan,
      index: k,
      nat: m.nat,
      member: m.name,
      lan: { address: ADDR.routerLan(k), cidr: ADDR.lanCidr(k) },
    });
    hosts.push({ name: m.name, role: 'member', ns: ns(m.name), address: ADDR.natMember(k), publicAddress: wan, index: k, nat: m.nat, router, ...dataplaneOf(m.dataplane) });
    links.push({ a: { host: INTERNET, ifname: `n${k}`, bridge: BRIDGE }, b: { host: router, ifname: IF.wan, cidr: `${wan}/24` } });
    links.push({ a: { host: router, ifname: IF.lan, cidr: `${ADDR.routerLan(k)}/24` }, b: { host: m.name, ifname: IF.uplink, cidr: `${ADDR.natMember(k)}/24` } });
    gateways[router] = ADDR.internetNat;
    gateways[m.name] = ADDR.routerLan(k);
  });

  return { id, hosts, links, gateways, bridge: { ifname: BRIDGE, cidrs: [`${ADDR.internetPublic}/24`, `${ADDR.internetNat}/24`] } };
}

/** A VPP node says so; wireguard-go is the default and left out (plans of older labs read the same). */
function dataplaneOf(d: Dataplane | undefined): { dataplane?: Dataplane } {
  return d === 'vpp' ? { dataplane: d } : {};
}

/** The hosts whose WireGuard VPP carries. */
export function vppHosts(plan: Plan): Host[] {
  return plan.hosts.filter((h) => h.dataplane === 'vpp');
}

/** One `ip -n <ns> -batch -` run: the lines of one namespace's setup. */
export interface NsBatch {
  host: string;
  ns: string;
  lines: string[];
}

/**
 * The `ip` commands that build the topology, in phases: a phase's batches run in parallel, and
 * each phase needs the veths the previous one created (a veth is created inside the namespace of
 * its `a` end with its peer put straight into `b`'s namespace, so no interface ever appears in
 * the machine's own namespace). Phase 0 is the internet, 1 the hosts on it, 2 the NAT'd members.
 */
export function setupBatches(plan: Plan): NsBatch[][] {
  const byName = new Map(plan.hosts.map((h) => [h.name, h]));
  const depth = new Map<string, number>([[INTERNET, 0]]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const l of plan.links) {
      if (depth.has(l.a.host) && !depth.has(l.b.host)) {
        depth.set(l.b.host, depth.get(l.a.host)! + 1);
        changed = true;
      }
    }
  }
  const batches = new Map<string, string[]>(plan.hosts.map((h) => [h.name, ['link set lo up']]));
  const add = (host: string, ...lines: string[]) => batches.get(host)!.push(...lines);

  add(INTERNET, `link add ${plan.bridge.ifname} type bridge`, ...plan.bridge.cidrs.map((c) => `addr add ${c} dev ${plan.bridge.ifname}`), `link set ${plan.bridge.ifname} up`);
  for (const l of plan.links) {
    add(l.a.host, `link add ${l.a.ifname} type veth peer name ${l.b.ifname} netns ${byName.get(l.b.host)!.ns}`);
    if (l.a.bridge) add(l.a.host, `link set ${l.a.ifname} master ${l.a.bridge}`);
    if (l.a.cidr) add(l.a.host, `addr add ${l.a.cidr} dev ${l.a.ifname}`);
    add(l.a.host, `link set ${l.a.ifname} up`);
  }
  // The b ends exist once the a side's batch ran: configure them first in b's own batch.
  for (const l of plan.links) {
    const own = batches.get(l.b.host)!;
    own.splice(1, 0, ...(l.b.cidr ? [`addr add ${l.b.cidr} dev ${l.b.ifname}`] : []), `link set ${l.b.ifname} up`);
  }
  for (const h of plan.hosts) if (h.role === 'registry') add(h.name, `addr add ${ADDR.registryAltN(h.index ?? 1)}/24 dev ${IF.uplink}`);
  for (const [host, gw] of Object.entries(plan.gateways)) add(host, `route add default via ${gw}`);

  const phases: NsBatch[][] = [];
  for (const h of plan.hosts) {
    const d = depth.get(h.name);
    if (d === undefined) throw new Error(`lab plan: host ${h.name} is not connected to the internet`);
    (phases[d] ??= []).push({ host: h.name, ns: h.ns, lines: batches.get(h.name)! });
  }
  return phases;
}

/** sysctl settings per host, set before any interface exists so that "default" reaches them all. */
export function sysctls(host: Host): string[] {
  const noRedirects = ['net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0'];
  switch (host.role) {
    case 'internet':
    case 'registry':
      return ['net.ipv4.ip_forward=1', ...noRedirects];
    case 'router':
      return ['net.ipv4.ip_forward=1'];
    case 'member':
    case 'store':
      return [];
  }
}
