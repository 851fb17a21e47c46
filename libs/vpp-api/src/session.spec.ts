import { waitFor } from '@wgmesh/testing';
import {
  ipRouteAddDel,
  loadDefinitions,
  MessageTableEntry,
  onWireguardPeerEvent,
  showVersion,
  swInterfaceAddDelAddress,
  swInterfaceSetFlags,
  VppClient,
  VppCodec,
  VppRetvalError,
  VppTimeoutError,
  wantWireguardPeerEvents,
  WIREGUARD_MESSAGES,
  wireguardInterfaceCreate,
  wireguardInterfaceDelete,
  wireguardInterfaceDump,
  wireguardPeerAdd,
  WireguardPeerEvent,
  wireguardPeerRemove,
  wireguardPeersDump,
  INTERFACE_MESSAGES,
  ROUTE_MESSAGES,
} from './index';
import { captureReplayer, FakeVpp } from './testing/fake-vpp';
import { API_DIR, describeGolden, loadCapture, loadCaptureMeta } from './testing/golden';

// The whole captured session, driven through VppClient and the typed calls against a fake VPP
// that checks every frame the client sends against the capture and answers with the real bytes.
describeGolden('VppClient against the replayed v26.06 session', () => {
  const defs = loadDefinitions(API_DIR);
  const codec = new VppCodec(defs);
  const frames = loadCapture();
  const meta = loadCaptureMeta();
  const key = (role: string, which: 'private_hex' | 'public_hex') => Buffer.from(meta.keys[role][which], 'hex');
  const table = frames[1].fields.message_table as MessageTableEntry[];

  // Natural grouping (one write per captured read), then the same bytes in 7-byte writes.
  describe.each([
    ['as VPP wrote them', undefined],
    ['in 7-byte writes', 7],
  ])('replies %s', (_label, chunk) => {
    let fake: FakeVpp;
    let replay: ReturnType<typeof captureReplayer>;

    beforeEach(async () => {
      replay = captureReplayer(frames, codec, { chunk });
      fake = await FakeVpp.start(defs, table, replay);
    });
    afterEach(() => fake.stop());

    it('runs steps a-i: ids from the table, typed calls, dumps, events, retval errors, timeout, close', async () => {
      // a: connect, table, client_index.
      const client = await VppClient.connect({
        socketPath: fake.path,
        definitions: defs,
        name: 'wgmesh-capture',
        require: [...WIREGUARD_MESSAGES, ...INTERFACE_MESSAGES.filter((m) => !m.startsWith('sw_interface_set_unnumbered')), ...ROUTE_MESSAGES],
      });
      const events: WireguardPeerEvent[] = [];
      onWireguardPeerEvent(client, (e) => events.push(e));
      expect(client.clientIndex).toBe(2147483649);
      expect(client.messages.id('wireguard_peer_add')).toBe(859);
      expect(client.messages.id('wireguard_peer_add_reply')).toBe(861);

      // b
      expect(await showVersion(client)).toEqual({ program: 'vpe', version: '26.06-release', buildDate: '2026-11-25T01:40:04', buildDirectory: '' });
      expect(await client.ping()).toMatchObject({ retval: 0, vpe_pid: 12121 });

      // c
      const swIfIndex = await wireguardInterfaceCreate(client, { privateKey: key('vpp', 'private_hex'), listenPort: 51820, srcAddress: '10.10.0.1' });
      expect(swIfIndex).toBe(2);
      await swInterfaceSetFlags(client, swIfIndex, true);
      await swInterfaceAddDelAddress(client, swIfIndex, '10.100.0.1/24', true);

      // d: three adds in flight at once, matched by context.
      const peer = { swIfIndex, persistentKeepalive: 25 };
      const indexes = await Promise.all([
        wireguardPeerAdd(client, { ...peer, publicKey: key('peerA', 'public_hex'), endpoint: '10.10.0.2', port: 51820, allowedIps: ['10.100.0.2/32'] }),
        wireguardPeerAdd(client, { ...peer, publicKey: key('peerB', 'public_hex'), endpoint: '2001:db8::2', port: 51821, allowedIps: ['10.100.0.3/32', 'fd00:100::3/128'] }),
        wireguardPeerAdd(client, { ...peer, publicKey: key('peerC', 'public_hex'), allowedIps: ['10.100.0.4/32'] }),
      ]);
      expect(indexes).toEqual([0, 1, 2]);

      // e
      expect(await ipRouteAddDel(client, { isAdd: true, prefix: '10.100.0.2/32', paths: [{ swIfIndex, nextHop: '10.100.0.2' }] })).toBe(17);

      // f
      const ifs = await wireguardInterfaceDump(client);
      expect(ifs).toHaveLength(1);
      expect(ifs[0]).toMatchObject({ userInstance: 0, swIfIndex: 2, listenPort: 51820, srcAddress: '10.10.0.1' });
      expect(ifs[0].publicKey.toString('hex')).toBe(meta.keys.vpp.public_hex);
      expect(ifs[0].privateKey.equals(Buffer.alloc(32))).toBe(true);
      const peers1 = await wireguardPeersDump(client);
      const expected1 = meta.observations.peers_dump_1 as Array<Record<string, unknown>>;
      expect(peers1.map((p) => ({ ...p, publicKey: p.publicKey.toString('hex') }))).toEqual(
        expected1.map((p) => ({
          peerIndex: p.peer_index,
          publicKey: p.public_key,
          endpoint: p.endpoint,
          port: p.port,
          persistentKeepalive: p.persistent_keepalive,
          tableId: p.table_id,
          swIfIndex: p.sw_if_index,
          flags: 0,
          established: false,
          dead: false,
          allowedIps: p.allowed_ips,
        })),
      );

      // g: subscribe; the ESTABLISHED event arrives after the reply, with no context.
      await wantWireguardPeerEvents(client, true, { pid: 12128 });
      await waitFor('the ESTABLISHED event', () => events.length === 1);
      expect(events[0]).toEqual({ peerIndex: 0, flags: 2, established: true, dead: false });
      const peers2 = await wireguardPeersDump(client);
      expect(peers2.map((p) => [p.peerIndex, p.flags, p.established])).toEqual([
        [0, 2, true],
        [1, 0, false],
        [2, 0, false],
      ]);

      // h: refusals become VppRetvalError with the VNET_API_ERROR name.
      const refused = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
      const noAllowed = await refused(
        wireguardPeerAdd(client, { ...peer, publicKey: key('peerD', 'public_hex'), endpoint: '10.10.0.9', port: 51820, allowedIps: [] }),
      );
      expect(noAllowed).toBeInstanceOf(VppRetvalError);
      expect(noAllowed).toMatchObject({ call: 'wireguard_peer_add', retval: -7, code: 'INVALID_VALUE' });
      expect((noAllowed as Error).message).toBe('VPP refused wireguard_peer_add: retval -7 (INVALID_VALUE)');
      expect(await refused(wireguardPeerRemove(client, 77))).toMatchObject({ name: 'VppRetvalError', retval: -6, code: 'NO_SUCH_ENTRY' });
      expect(await refused(wireguardInterfaceDelete(client, 99))).toMatchObject({ name: 'VppRetvalError', retval: -2, code: 'INVALID_SW_IF_INDEX' });
      // VPP did not answer this one (frame 45): a clear timeout, and the session stays usable.
      const timedOut = await refused(client.request('show_version', {}, { timeoutMs: 150 }));
      expect(timedOut).toBeInstanceOf(VppTimeoutError);
      expect((timedOut as Error).message).toMatch(/did not answer show_version \(context 18\) within 150 ms/);
      expect(await client.ping()).toMatchObject({ context: 19, retval: 0 });

      // i: the two events arrive between the request and its reply, and are dispatched first.
      const removed = wireguardPeerRemove(client, 0).then(() => events.length);
      expect(await removed).toBe(3);
      expect(events.slice(1)).toEqual([
        { peerIndex: 0, flags: 0, established: false, dead: false },
        { peerIndex: 0, flags: 1, established: false, dead: true },
      ]);
      const closed = new Promise((resolve) => client.onClose(resolve));
      await client.close();
      expect(await closed).toBeUndefined();
      expect(client.closed).toBe(true);
      await expect(client.ping()).rejects.toThrow(/closed/);

      // The fake VPP checked every frame; the bodies are the capture's, byte for byte.
      expect(fake.errors).toEqual([]);
      expect(replay.position()).toBe(frames.length);
      const tx = frames.filter((f) => f.dir === 'tx');
      expect(fake.received).toHaveLength(tx.length);
      fake.received.forEach((r, i) => {
        if (tx[i].seq === 45) return; // the capture used client_index 0 on purpose; we never do
        expect(`${tx[i].seq} ${r.body.toString('hex')}`).toBe(`${tx[i].seq} ${tx[i].hex.slice(32)}`);
      });
    });
  });
});
