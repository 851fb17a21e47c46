import { waitFor } from '@wgmesh/testing';
import {
  encodeFrame,
  loadDefinitions,
  MessageTableEntry,
  VppClient,
  VppClientOptions,
  VppCodec,
  VppConnectionError,
  VppDecodeError,
  VppEncodeError,
  VppFrameError,
  VppMessageUnavailableError,
  VppProtocolError,
  VppTimeoutError,
  VppUnknownMessageError,
  WIREGUARD_MESSAGES,
  wireguardPeerAdd,
} from './index';
import { FakeConnection, FakeRequest, FakeVpp } from './testing/fake-vpp';
import { API_DIR, describeGolden, loadCapture } from './testing/golden';

describeGolden('VppClient', () => {
  const defs = loadDefinitions(API_DIR);
  const codec = new VppCodec(defs);
  const capture = loadCapture();
  const registerReply = codec.decode('sockclnt_create_reply', Buffer.from(capture[1].hex, 'hex').subarray(16));
  const TABLE = registerReply.message_table as MessageTableEntry[];
  const fakes: FakeVpp[] = [];
  const clients: VppClient[] = [];

  /** A VPP that registers clients, answers control_ping and sockclnt_delete, and passes the rest to `rest`. */
  async function start(rest: (req: FakeRequest, conn: FakeConnection) => void = () => undefined, table = TABLE): Promise<FakeVpp> {
    const fake = await FakeVpp.start(defs, table, (req, conn) => {
      const context = req.fields.context as number;
      if (req.name === 'sockclnt_create') {
        conn.send('sockclnt_create_reply', { ...registerReply, context, count: undefined, message_table: table });
      } else if (req.name === 'control_ping') {
        conn.send('control_ping_reply', { context, retval: 0, vpe_pid: 4242 });
      } else if (req.name === 'sockclnt_delete') {
        conn.send('sockclnt_delete_reply', { context, response: 1 });
        conn.end();
      } else {
        rest(req, conn);
      }
    });
    fakes.push(fake);
    return fake;
  }

  async function connect(fake: FakeVpp, opts: VppClientOptions = {}): Promise<VppClient> {
    const client = await VppClient.connect({ socketPath: fake.path, definitions: defs, requestTimeoutMs: 1000, ...opts });
    clients.push(client);
    return client;
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const f of fakes.splice(0)) await f.stop();
  });

  const reply = (conn: FakeConnection, name: string, req: FakeRequest, fields: Record<string, unknown> = {}) =>
    conn.send(name, { context: req.fields.context, ...fields });

  describe('connect', () => {
    it('fails clearly when nothing listens on the socket', async () => {
      const err = await VppClient.connect({ socketPath: '/nonexistent/api.sock', definitions: defs }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(VppConnectionError);
      expect((err as Error).message).toMatch(/cannot connect to VPP at \/nonexistent\/api.sock .*ENOENT/);
    });

    it('fails clearly when the API definitions directory is missing', async () => {
      await expect(VppClient.connect({ socketPath: '/nonexistent/api.sock', apiDir: '/nonexistent/api' })).rejects.toThrow(
        '/nonexistent/api: no such directory (VPP API definitions; install VPP or set apiDir)',
      );
    });

    it('names both CRCs when VPP has another wireguard_peer_add', async () => {
      const table = TABLE.map((e) => (e.name === 'wireguard_peer_add_9b8aad61' ? { ...e, name: 'wireguard_peer_add_deadbeef' } : e));
      const fake = await start(undefined, table);
      const err = await connect(fake, { require: WIREGUARD_MESSAGES }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(VppMessageUnavailableError);
      expect(err).toMatchObject({ messageName: 'wireguard_peer_add', ourCrc: '0x9b8aad61', vppCrc: '0xdeadbeef' });
      expect((err as Error).message).toBe(
        "VPP offers wireguard_peer_add with another layout: ours has CRC 0x9b8aad61, the running VPP's message table has CRC 0xdeadbeef (the API definitions in apiDir do not match this VPP)",
      );
    });

    it('says "absent" when VPP has no such message (plugin not loaded)', async () => {
      const fake = await start(undefined, TABLE.filter((e) => !e.name.startsWith('wireguard_')));
      const err = await connect(fake, { require: ['wireguard_peer_add'] }).catch((e: Error) => e);
      expect(err).toMatchObject({ name: 'VppMessageUnavailableError', vppCrc: null });
      expect((err as Error).message).toMatch(/no wireguard_peer_add \(absent/);
    });

    it('without `require`, connects and fails the call that needs the message, sending nothing', async () => {
      const table = TABLE.map((e) => (e.name === 'wireguard_peer_add_9b8aad61' ? { ...e, name: 'wireguard_peer_add_01234567' } : e));
      const fake = await start(undefined, table);
      const client = await connect(fake);
      const add = wireguardPeerAdd(client, { swIfIndex: 1, publicKey: Buffer.alloc(32, 1), allowedIps: ['10.0.0.1/32'] });
      await expect(add).rejects.toThrow(/ours has CRC 0x9b8aad61, the running VPP's message table has CRC 0x01234567/);
      expect(fake.received.map((r) => r.name)).toEqual(['sockclnt_create']);
    });

    it('reports a refused registration', async () => {
      const fake = await FakeVpp.start(defs, TABLE, (req, conn) =>
        conn.send('sockclnt_create_reply', { context: req.fields.context, response: -1, index: 0, message_table: [] }),
      );
      fakes.push(fake);
      await expect(connect(fake)).rejects.toThrow('VPP refused sockclnt_create: response -1');
    });

    it('delivers events sent right after registration to handlers given to connect', async () => {
      const fake = await FakeVpp.start(defs, TABLE, (req, conn) => {
        const id = fake.table.id('wireguard_peer_event');
        conn.write([
          fake.encode('sockclnt_create_reply', { ...registerReply, context: req.fields.context }),
          codec.encode('wireguard_peer_event', { _vl_msg_id: id, peer_index: 2, flags: 1 }),
        ]);
      });
      fakes.push(fake);
      const seen: unknown[] = [];
      await connect(fake, { on: { wireguard_peer_event: (f) => seen.push(f.peer_index) } });
      await waitFor('the early event', () => seen.length === 1);
      expect(seen).toEqual([2]);
    });
  });

  describe('requests', () => {
    it('matches pipelined replies by context, in any order', async () => {
      const held: FakeRequest[] = [];
      const fake = await start((req, conn) => {
        held.push(req);
        if (held.length === 3) for (const r of held.reverse()) reply(conn, 'show_version_reply', r, { version: `v${r.fields.context}` });
      });
      const client = await connect(fake);
      const versions = await Promise.all([1, 2, 3].map(() => client.request('show_version')));
      expect(versions.map((v) => v.version)).toEqual(versions.map((v) => `v${v.context}`));
      expect(new Set(versions.map((v) => v.context)).size).toBe(3);
    });

    it('sends client_index = the handle and increasing contexts', async () => {
      const fake = await start((req, conn) => reply(conn, 'show_version_reply', req));
      const client = await connect(fake);
      await client.request('show_version');
      await client.request('show_version');
      const sent = fake.received.filter((r) => r.name === 'show_version').map((r) => [r.fields.client_index, r.fields.context]);
      expect(sent).toEqual([
        [2147483649, 2],
        [2147483649, 3],
      ]);
    });

    it('times out with a clear error, then drops the late reply', async () => {
      let late: (() => void) | undefined;
      const fake = await start((req, conn) => {
        late = () => reply(conn, 'show_version_reply', req);
      });
      const client = await connect(fake);
      const err = await client.request('show_version', {}, { timeoutMs: 50 }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(VppTimeoutError);
      expect(err).toMatchObject({ call: 'show_version', timeoutMs: 50 });
      late?.();
      await client.ping();
      expect(client.stats.unmatched).toBe(1);
    });

    it('rejects a reply of the wrong kind for the context', async () => {
      const fake = await start((req, conn) => reply(conn, 'wireguard_peer_add_reply', req));
      const client = await connect(fake);
      await expect(client.request('show_version')).rejects.toThrow(
        new VppProtocolError('show_version (context 2) got wireguard_peer_add_reply, expected show_version_reply'),
      );
    });

    it('fails the request whose reply does not decode, naming the field', async () => {
      const fake = await start((req, conn) => {
        const body = fake.encode('wireguard_peer_add_reply', { context: req.fields.context });
        conn.write([body.subarray(0, body.length - 2)]);
      });
      const client = await connect(fake);
      const err = await client.request('wireguard_peer_add', { peer: { allowed_ips: ['10.0.0.1/32'] } }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(VppDecodeError);
      expect((err as Error).message).toMatch(/^cannot decode wireguard_peer_add_reply.peer_index: needs 4 more byte/);
    });

    it('refuses unknown messages and unencodable fields before sending anything', async () => {
      const fake = await start();
      const client = await connect(fake);
      await expect(client.request('no_such_message')).rejects.toBeInstanceOf(VppUnknownMessageError);
      await expect(client.request('wireguard_peer_remove', { peer_index: -1 })).rejects.toBeInstanceOf(VppEncodeError);
      await expect(client.request('wireguard_peer_remove', { peer_idx: 1 })).rejects.toThrow(/peer_idx: unknown field/);
      expect(() => client.on('no_such_event', () => undefined)).toThrow(VppUnknownMessageError);
      expect(fake.received.map((r) => r.name)).toEqual(['sockclnt_create']);
    });
  });

  describe('dumps and events', () => {
    it('collects details until the control_ping_reply with the same context; an empty dump is []', async () => {
      let n = 0;
      const fake = await FakeVpp.start(defs, TABLE, (req, conn) => {
        const context = req.fields.context;
        if (req.name === 'sockclnt_create') return conn.send('sockclnt_create_reply', { ...registerReply, context });
        if (req.name === 'control_ping') {
          const details = n++ === 0 ? [0, 1] : [];
          const event = fake.encode('wireguard_peer_event', { peer_index: 9, flags: 2 });
          const bodies = details.map((i) => fake.encode('wireguard_peers_details', { context, peer: { peer_index: i, allowed_ips: ['10.0.0.1/32'] } }));
          // an event in the middle of the list, all in one write
          conn.write([...bodies.slice(0, 1), event, ...bodies.slice(1), fake.encode('control_ping_reply', { context })]);
        }
      });
      fakes.push(fake);
      const client = await connect(fake);
      const events: unknown[] = [];
      client.on('wireguard_peer_event', (f) => events.push(f.peer_index));
      const first = await client.dump('wireguard_peers_dump', { peer_index: 0xffffffff });
      expect(first.map((d) => (d.peer as { peer_index: number }).peer_index)).toEqual([0, 1]);
      expect(events).toEqual([9]);
      expect(await client.dump('wireguard_peers_dump')).toEqual([]);
      const sent = fake.received.map((r) => [r.name, r.fields.context]);
      expect(sent).toEqual([
        ['sockclnt_create', 1],
        ['wireguard_peers_dump', 2],
        ['control_ping', 2],
        ['wireguard_peers_dump', 3],
        ['control_ping', 3],
      ]);
    });

    it('counts events nobody subscribed to, and reports handler errors and unknown ids to onError', async () => {
      const fake = await start((req, conn) => {
        const unknown = Buffer.alloc(6);
        unknown.writeUInt16BE(4000, 0);
        conn.write([fake.encode('wireguard_peer_event', { peer_index: 1 }), unknown]);
        reply(conn, 'show_version_reply', req);
      });
      const client = await connect(fake);
      const errors: Error[] = [];
      client.onError((e) => errors.push(e));
      await client.request('show_version');
      expect(client.stats.unhandledEvents).toBe(1);
      expect(errors.map((e) => e.message)).toEqual(["message id 4000 is not in our API definitions with VPP's CRC; dropped"]);
      client.on('wireguard_peer_event', () => {
        throw new Error('handler bug');
      });
      await client.request('show_version');
      expect(errors.map((e) => e.message)).toContain('handler bug');
    });
  });

  describe('the connection', () => {
    it('closes with sockclnt_delete (response 1) and VPP’s EOF', async () => {
      const fake = await start();
      const client = await connect(fake);
      const onClose = jest.fn();
      client.onClose(onClose);
      await client.close();
      await client.close(); // idempotent
      expect(onClose).toHaveBeenCalledWith(undefined);
      expect(fake.received.map((r) => [r.name, r.fields.index])).toEqual([
        ['sockclnt_create', undefined],
        ['sockclnt_delete', 2147483649],
      ]);
    });

    it('fails pending calls when VPP hangs up', async () => {
      const fake = await start((_req, conn) => conn.end());
      const client = await connect(fake);
      const onClose = jest.fn();
      client.onClose(onClose);
      await expect(client.request('show_version')).rejects.toThrow(new VppConnectionError('VPP closed the API connection'));
      expect(onClose).toHaveBeenCalledWith(expect.any(VppConnectionError));
      expect(client.closed).toBe(true);
    });

    it('closes on a frame above the size bound instead of buffering it', async () => {
      const fake = await start((_req, conn) => {
        const header = Buffer.alloc(16);
        header.writeUInt32BE(64 * 1024 * 1024, 8);
        conn.socket.write(header);
      });
      const client = await connect(fake);
      const err = await client.request('show_version').catch((e: Error) => e);
      expect(err).toBeInstanceOf(VppFrameError);
      expect((err as Error).message).toBe('frame body of 67108864 bytes exceeds the 16777216-byte bound');
      expect(client.closed).toBe(true);
    });

    it('close() still closes when VPP does not answer sockclnt_delete', async () => {
      const fake = await FakeVpp.start(defs, TABLE, (req, conn) => {
        if (req.name === 'sockclnt_create') conn.send('sockclnt_create_reply', { ...registerReply, context: req.fields.context });
      });
      fakes.push(fake);
      const client = await connect(fake, { requestTimeoutMs: 50 });
      await expect(client.close()).rejects.toBeInstanceOf(VppTimeoutError);
      expect(client.closed).toBe(true);
    });

    it('writes a dump and its control_ping as whole frames', () => {
      // The framing helper: zeros, big-endian body length, zero.
      expect(encodeFrame(Buffer.from([0, 23, 1, 2])).toString('hex')).toBe('00000000000000000000000400000000' + '00170102');
    });
  });
});
