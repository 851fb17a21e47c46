import { decodeJson } from '@wgmesh/contracts';

// The wire format is plain JSON of the message itself (no envelope), so any NATS client can
// talk to wgmesh: `nats pub wgmesh.v1.prod.peers.events '{"type":"remove",...}'`.

export function encodeJson(value: unknown): Uint8Array {
  const text = JSON.stringify(value === undefined ? null : value);
  return Buffer.from(text, 'utf8');
}

/** Parses a body as JSON with the contracts' size bound (or `maxBytes`: a message put together from chunks); validation is the receiver's job. */
export function decodeBody(data: Uint8Array, maxBytes?: number): unknown {
  return decodeJson(data, (value) => value, maxBytes);
}
