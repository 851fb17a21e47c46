import type { VppApi } from './client';
import { checkRetval } from './retval';

/** af_packet_mode. */
export const AF_PACKET_API_MODE_ETHERNET = 1;
export const AF_PACKET_API_MODE_IP = 2;
/** af_packet_flags. */
export const AF_PACKET_API_FLAG_QDISC_BYPASS = 1;
/**
 * Checksum and GSO offload through the packet socket's virtio-net header: frames from the Linux
 * side with partial checksums (a veth offloads them) are completed by VPP, and big GSO frames are
 * segmented. Without it TCP from the host side arrives with bad checksums.
 */
export const AF_PACKET_API_FLAG_CKSUM_GSO = 2;

export interface AfPacketCreate {
  /** The Linux interface to attach (in VPP's network namespace). VPP names it "host-<name>". */
  hostIfName: string;
  /** MAC of VPP's side; a random one when omitted. */
  hwAddr?: Uint8Array;
  /** Default QDISC_BYPASS | CKSUM_GSO, what `vppctl create host-interface` uses. */
  flags?: number;
}

export const AF_PACKET_MESSAGES = [
  'af_packet_create_v3',
  'af_packet_create_v3_reply',
  'af_packet_delete',
  'af_packet_delete_reply',
  'af_packet_dump',
  'af_packet_details',
] as const;

/** Attaches a Linux interface to VPP as an Ethernet af_packet interface (admin down, MTU 9000: set it); returns its sw_if_index. */
export async function afPacketCreate(api: VppApi, opts: AfPacketCreate): Promise<number> {
  const call = 'af_packet_create_v3';
  const reply = await api.request(call, {
    mode: AF_PACKET_API_MODE_ETHERNET,
    hw_addr: opts.hwAddr,
    use_random_hw_addr: opts.hwAddr === undefined,
    host_if_name: opts.hostIfName,
    flags: opts.flags ?? AF_PACKET_API_FLAG_QDISC_BYPASS | AF_PACKET_API_FLAG_CKSUM_GSO,
    num_rx_queues: 1,
    num_tx_queues: 1,
  });
  return checkRetval(call, reply).sw_if_index as number;
}

export async function afPacketDelete(api: VppApi, hostIfName: string): Promise<void> {
  checkRetval('af_packet_delete', await api.request('af_packet_delete', { host_if_name: hostIfName }));
}

/** Every af_packet interface: its sw_if_index and the Linux interface it is attached to. */
export async function afPacketDump(api: VppApi): Promise<Array<{ swIfIndex: number; hostIfName: string }>> {
  return (await api.dump('af_packet_dump', {})).map((d) => ({ swIfIndex: d.sw_if_index as number, hostIfName: d.host_if_name as string }));
}
