/**
 * The simulated mesh of the convergence benchmark: deterministic member keys, tunnel addresses and
 * endpoints (documentation ranges only), and the messages between the bench and its worker
 * processes of simulated members.
 */

/** Member n's public key (32 bytes, deterministic). */
export function simKey(n: number): string {
  const k = Buffer.alloc(32);
  k.writeUInt32BE(n + 1, 0);
  k[31] = 0x77;
  return k.toString('base64');
}

/** Member n's tunnel address: 10.99.0.0/16 from .2 on. */
export function simAddress(n: number): string {
  const host = n + 2;
  return `10.99.${(host >> 8) & 255}.${host & 255}`;
}

/** Member n's registry-observed endpoint; `version` moves it (a NAT rebinding). */
export function simEndpoint(n: number, version = 0): string {
  const net = version % 2 === 0 ? '198.51.100' : '203.0.113';
  return `${net}.${(n % 250) + 1}:${20000 + ((n * 7 + version * 7919) % 40000)}`;
}

export type SimToWorker =
  | { type: 'start'; mesh: string; nats: string; hubKey: string; from: number; to: number; applyDelayMs: number }
  /** Report when every member of the worker (but `except`, the changed one) has applied this endpoint. */
  | { type: 'watch'; id: number; publicKey: string; endpoint: string; except: number }
  | { type: 'stop' };

export type SimToParent =
  | { type: 'ready'; members: number; ms: number; rssMb: number }
  | { type: 'watching'; id: number }
  /**
   * Epoch ms (performance.timeOrigin + now) of each member's first apply including the change,
   * and the worker's CPU time (user + system) from the watch until the last of them.
   */
  | { type: 'applied'; id: number; times: number[]; cpuMs: number }
  | { type: 'error'; message: string };
