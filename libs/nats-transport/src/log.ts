/** What the transport logs through: Nest's `Logger` fits, and so does a test double. */
export interface TransportLogger {
  warn(message: string): unknown;
  error(message: string): unknown;
}

/** One logfmt line: `msg="bad message" subject=wgmesh.v1.prod.peers.events bytes=8`. */
export function logLine(fields: Record<string, string | number | undefined>): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'number' || /^[\w.:*>/{}-]+$/.test(v!) ? v : JSON.stringify(v)}`)
    .join(' ');
}
