import {
  ipRouteAddDel,
  loadDefinitions,
  swInterfaceDump,
  swInterfaceSetUnnumbered,
  tapCreate,
  tapDelete,
  VppApi,
  VppCodec,
  VppEncodeError,
  VppFields,
  VppRetvalError,
  wantWireguardPeerEvents,
  wireguardInterfaceCreate,
  wireguardPeerAdd,
  checkRetval,
  vppErrorName,
} from './index';
import { describeWithDefinitions } from './testing/golden';

/** A VppApi that encodes every request with the real definitions (so it must be valid) and answers from a table. */
function recorder(codec: VppCodec, replies: Record<string, VppFields | VppFields[]> = {}) {
  const sent: Array<{ name: string; fields: VppFields }> = [];
  const api: VppApi = {
    async request(name, fields = {}) {
      sent.push({ name, fields: codec.decode(name, codec.encode(name, fields)) });
      return (replies[name] as VppFields) ?? { retval: 0 };
    },
    async dump(name, fields = {}) {
      sent.push({ name, fields: codec.decode(name, codec.encode(name, fields)) });
      return (replies[name] as VppFields[]) ?? [];
    },
  };
  return { api, sent };
}

describeWithDefinitions('typed calls (requests checked against the API definitions)', (apiDir) => {
  const codec = new VppCodec(loadDefinitions(apiDir));

  it('ipRouteAddDel: IPv6 next hop → proto IP6, ip6 union member; no next hop → attached path', async () => {
    const { api, sent } = recorder(codec, { ip_route_add_del: { retval: 0, stats_index: 3 } });
    expect(await ipRouteAddDel(api, { isAdd: true, prefix: 'fd00:100::3/128', paths: [{ swIfIndex: 2, nextHop: 'fd00:100::3' }] })).toBe(3);
    await ipRouteAddDel(api, { isAdd: false, prefix: '10.100.0.0/24', paths: [{ swIfIndex: 2 }], tableId: 5 });
    const [v6, attached] = sent.map((s) => s.fields.route as { table_id: number; prefix: string; paths: VppFields[] });
    expect(v6.paths[0]).toMatchObject({ sw_if_index: 2, proto: 1, weight: 1, nh: { address: { ip6: 'fd00:100::3' } } });
    expect(attached).toMatchObject({ table_id: 5, prefix: '10.100.0.0/24' });
    expect(attached.paths[0]).toMatchObject({ proto: 0, nh: { address: { ip4: '0.0.0.0' } } });
    expect(sent[1].fields).toMatchObject({ is_add: false });
    await expect(ipRouteAddDel(api, { isAdd: true, prefix: 'nope/8', paths: [] })).rejects.toThrow(VppEncodeError);
  });

  it('tapCreate: tap_create_v3 in tun mode with GSO, host side name and prefix', async () => {
    const { api, sent } = recorder(codec, { tap_create_v3: { retval: 0, sw_if_index: 3 } });
    expect(await tapCreate(api, { hostIfName: 'vpp-wg', gso: true, hostIp4Prefix: '10.200.0.1/30', hostMtu: 1420 })).toBe(3);
    expect(sent[0]).toMatchObject({
      name: 'tap_create_v3',
      fields: {
        id: 0xffffffff,
        use_random_mac: true,
        tap_flags: 16 | 1,
        host_if_name_set: true,
        host_if_name: 'vpp-wg',
        host_ip4_prefix_set: true,
        host_ip4_prefix: '10.200.0.1/30',
        host_ip6_prefix_set: false,
        host_mtu_set: true,
        host_mtu_size: 1420,
        num_rx_queues: 1,
        num_tx_queues: 1,
        tx_ring_sz: 256,
        rx_ring_sz: 256,
      },
    });
    await tapDelete(api, 3);
    expect(sent[1]).toMatchObject({ name: 'tap_delete_v2', fields: { sw_if_index: 3 } });
  });

  it('swInterfaceSetUnnumbered and swInterfaceDump', async () => {
    const detail = { sw_if_index: 1, sup_sw_if_index: 1, interface_name: 'host-vpp0', interface_dev_type: 'af_packet', tag: '', flags: 3, l2_address: Buffer.alloc(6, 2), mtu: [9000, 0, 0, 0], link_mtu: 9000 };
    const { api, sent } = recorder(codec, { sw_interface_dump: [detail] });
    await swInterfaceSetUnnumbered(api, 1, 2);
    expect(sent[0].fields).toMatchObject({ sw_if_index: 1, unnumbered_sw_if_index: 2, is_add: true });
    expect(await swInterfaceDump(api, { nameFilter: 'host' })).toEqual([
      { swIfIndex: 1, supSwIfIndex: 1, name: 'host-vpp0', devType: 'af_packet', tag: '', flags: 3, adminUp: true, linkUp: true, l2Address: Buffer.alloc(6, 2), mtu: [9000, 0, 0, 0], linkMtu: 9000 },
    ]);
    expect(sent[1].fields).toMatchObject({ sw_if_index: 0xffffffff, name_filter_valid: true, name_filter: 'host' });
  });

  it('WireGuard calls check keys and defaults before sending', async () => {
    const { api, sent } = recorder(codec, { wireguard_interface_create: { retval: 0, sw_if_index: 4 }, wireguard_peer_add: { retval: 0, peer_index: 0 } });
    await expect(wireguardPeerAdd(api, { swIfIndex: 2, publicKey: Buffer.alloc(31), allowedIps: ['10.0.0.1/32'] })).rejects.toThrow(
      'cannot encode wireguard_peer_add.publicKey: a WireGuard key is 32 raw bytes (decode base64 first)',
    );
    await expect(wireguardInterfaceCreate(api, { listenPort: 1, srcAddress: '10.0.0.1' })).rejects.toThrow(/privateKey: required unless generateKey/);
    expect(await wireguardInterfaceCreate(api, { generateKey: true, listenPort: 51820, srcAddress: '10.10.0.1' })).toBe(4);
    expect(sent[0].fields).toMatchObject({ generate_key: true, interface: { user_instance: 0xffffffff, port: 51820, src_ip: '10.10.0.1' } });
    await wireguardPeerAdd(api, { swIfIndex: 4, publicKey: Buffer.alloc(32, 1), allowedIps: ['10.0.0.1/32'] });
    expect(sent[1].fields.peer).toMatchObject({ endpoint: '0.0.0.0', port: 0, persistent_keepalive: 0, table_id: 0, n_allowed_ips: 1 });
    await wantWireguardPeerEvents(api, false);
    expect(sent[2].fields).toMatchObject({ sw_if_index: 0xffffffff, peer_index: 0xffffffff, enable_disable: 0, pid: process.pid });
  });
});

describe('checkRetval', () => {
  it('passes replies with retval >= 0 (or none) and names known negative ones', () => {
    const ok = { retval: 0, sw_if_index: 2 };
    expect(checkRetval('x', ok)).toBe(ok);
    expect(checkRetval('x', { response: 1 })).toEqual({ response: 1 });
    expect(() => checkRetval('wireguard_interface_delete', { retval: -2 })).toThrow(new VppRetvalError('wireguard_interface_delete', -2, 'INVALID_SW_IF_INDEX'));
    expect(() => checkRetval('x', { retval: -9999 })).toThrow('VPP refused x: retval -9999');
    expect([-1, -6, -7, -15].map(vppErrorName)).toEqual(['UNSPECIFIED', 'NO_SUCH_ENTRY', 'INVALID_VALUE', 'SYSCALL_ERROR_5']);
  });
});
