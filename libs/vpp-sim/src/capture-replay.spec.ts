import { mkdtempSync, rmSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame, FrameReader, loadDefinitions, toJsonValue, VppFields } from '@wgmesh/vpp-api';
import { waitFor } from '@wgmesh/testing';
import { API_DIR, CaptureFrame, describeGolden, loadCapture } from '@wgmesh/vpp-api/testing';
import { VppSim } from './sim';

// The simulator against the golden capture (../shared/vpp-api): every tx frame of the recorded
// session is sent byte for byte (only the message id is changed to the simulator's), and what
// comes back must be the capture's rx frames, in order, with the same fields. Fields that VPP
// itself varies from run to run (or that are internal indexes) are left out, and listed here:
const VARIABLE: Record<string, string[]> = {
  control_ping_reply: ['vpe_pid'], // VPP's pid
  show_version_reply: ['build_date'],
  ip_route_add_del_reply: ['stats_index'], // index of the FIB entry's counters in the stats segment
  sockclnt_create_reply: ['message_table'], // ids depend on plugin load order: compared by name below
};

describeGolden('vpp-sim replays the golden capture (VPP v26.06 WireGuard session)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wgmesh-vpp-sim-'));
  const frames = loadCapture();
  let sim: VppSim;

  beforeAll(async () => {
    sim = await VppSim.start({ socketPath: join(dir, 'api.sock'), definitions: loadDefinitions(API_DIR) });
  });
  afterAll(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers every request as VPP did, and closes after sockclnt_delete', async () => {
    const received: Array<{ msg: string; fields: VppFields }> = [];
    let ended = false;
    const reader = new FrameReader();
    const socket: Socket = connect(sim.socketPath);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.on('data', (chunk) => {
      for (const body of reader.push(chunk)) {
        const msg = sim.ids.nameOf(body.readUInt16BE(0)) ?? `unknown id ${body.readUInt16BE(0)}`;
        received.push({ msg, fields: sim.codec.decode(msg, body) });
      }
    });
    socket.on('end', () => (ended = true));

    // Step g: wireguard-go came up after the subscription, and VPP sent ESTABLISHED for peer 0.
    const before: Record<number, () => void> = { 32: () => sim.simulateHandshake(0) };
    let rx = 0;
    for (const f of frames) {
      if (f.dir === 'tx') {
        socket.write(encodeFrame(withSimId(sim, f)));
        continue;
      }
      before[f.seq]?.();
      const index = rx++;
      await waitFor(`rx frame ${f.seq} (${f.msg})`, () => received.length > index, 3000);
      const got = received[index];
      expect({ seq: f.seq, msg: got.msg }).toEqual({ seq: f.seq, msg: f.msg });
      expect(comparable(f.msg, toJsonValue(got.fields) as VppFields)).toEqual(comparable(f.msg, f.fields));
    }
    await waitFor('EOF after sockclnt_delete_reply', () => ended, 3000);
    expect(received).toHaveLength(rx); // nothing else: no reply to the client_index-0 request (frame 45)

    // The table: the capture's 870 names with their CRCs, sockclnt_create at 15 and its reply at 16.
    const table = (frames[1].fields.message_table as Array<{ index: number; name: string }>).map((e) => e.name).sort();
    const ours = (received[0].fields.message_table as Array<{ index: number; name: string }>).map((e) => e.name).sort();
    expect(ours).toEqual(table);
    expect(sim.ids.id('sockclnt_create')).toBe(15);
    expect(sim.ids.id('sockclnt_create_reply')).toBe(16);
  });
});

/** The frame's body with the simulator's id for its message (the rest byte for byte). */
function withSimId(sim: VppSim, f: CaptureFrame): Buffer {
  const body = Buffer.from(f.hex, 'hex').subarray(16);
  body.writeUInt16BE(sim.ids.id(f.msg), 0);
  return body;
}

/** Fields without the message id (the simulator's differ) and without the variable ones. */
function comparable(msg: string, fields: VppFields): VppFields {
  const out: VppFields = { ...fields };
  delete out._vl_msg_id;
  for (const k of VARIABLE[msg] ?? []) delete out[k];
  return out;
}
