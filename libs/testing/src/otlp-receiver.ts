import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/**
 * A small OTLP/HTTP trace receiver for tests (what a collector or Jaeger's OTLP port does, minus
 * storage): POST /v1/traces with OTLP/JSON (`application/json`, what
 * @opentelemetry/exporter-trace-otlp-http sends) or OTLP/protobuf (`application/x-protobuf`, what
 * exporter-trace-otlp-proto sends), optionally gzip-compressed. Every span is flattened into an
 * `OtlpSpan` with hex ids and its resource's attributes.
 *
 * Run as a program it prints each span as one line `OTLP-SPAN <json>` (the lab runs it inside
 * a namespace): `node -r bin/register.js libs/testing/src/otlp-receiver.ts --listen 0.0.0.0:4318`.
 */

export type OtlpValue = string | number | boolean | null | OtlpValue[] | { [key: string]: OtlpValue };
export type OtlpAttributes = Record<string, OtlpValue>;

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  /** 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  /** The resource's service.name. */
  service: string;
  resource: OtlpAttributes;
  scope: string;
  attributes: OtlpAttributes;
  events: Array<{ name: string; attributes: OtlpAttributes }>;
  links: Array<{ traceId: string; spanId: string; attributes: OtlpAttributes }>;
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  /** Nanoseconds since the epoch, as decimal strings (they exceed 2^53). */
  startTimeUnixNano: string;
  endTimeUnixNano: string;
}

export const OTLP_SPAN_PREFIX = 'OTLP-SPAN ';

export class OtlpParseError extends Error {
  override readonly name = 'OtlpParseError';
}

/** Spans of one export request body, by its content type (and already decompressed). */
export function parseOtlpTraces(body: Uint8Array, contentType: string): OtlpSpan[] {
  const type = contentType.split(';')[0].trim().toLowerCase();
  if (type === 'application/json') {
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(body).toString('utf8'));
    } catch (err) {
      throw new OtlpParseError(`not JSON: ${(err as Error).message}`);
    }
    return parseOtlpJson(value);
  }
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return parseOtlpProtobuf(body);
  throw new OtlpParseError(`unsupported content type "${contentType}" (application/json or application/x-protobuf)`);
}

// ---- OTLP/JSON ------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** An ExportTraceServiceRequest in OTLP/JSON (ids in hex, as the spec says; base64 is accepted too). */
export function parseOtlpJson(request: unknown): OtlpSpan[] {
  if (!Array.isArray(obj(request).resourceSpans)) throw new OtlpParseError('no resourceSpans array');
  const out: OtlpSpan[] = [];
  for (const rs of arr(obj(request).resourceSpans)) {
    const resource = jsonAttributes(obj(obj(rs).resource).attributes);
    for (const ss of arr(obj(rs).scopeSpans)) {
      const scope = str(obj(obj(ss).scope).name);
      for (const s of arr(obj(ss).spans).map(obj)) {
        out.push({
          traceId: jsonId(s.traceId, 16),
          spanId: jsonId(s.spanId, 8),
          parentSpanId: s.parentSpanId ? jsonId(s.parentSpanId, 8) : '',
          name: str(s.name),
          kind: jsonKind(s.kind),
          service: String(resource['service.name'] ?? ''),
          resource,
          scope,
          attributes: jsonAttributes(s.attributes),
          events: arr(s.events).map((e) => ({ name: str(obj(e).name), attributes: jsonAttributes(obj(e).attributes) })),
          links: arr(s.links).map((l) => ({ traceId: jsonId(obj(l).traceId, 16), spanId: jsonId(obj(l).spanId, 8), attributes: jsonAttributes(obj(l).attributes) })),
          status: { code: jsonStatusCode(obj(s.status).code), message: str(obj(s.status).message) },
          startTimeUnixNano: jsonTime(s.startTimeUnixNano),
          endTimeUnixNano: jsonTime(s.endTimeUnixNano),
        });
      }
    }
  }
  return out;
}

function jsonId(v: unknown, bytes: number): string {
  const text = str(v);
  if (new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(text)) return text.toLowerCase();
  const raw = Buffer.from(text, 'base64');
  if (raw.length !== bytes) throw new OtlpParseError(`bad ${bytes}-byte id ${JSON.stringify(text).slice(0, 60)}`);
  return raw.toString('hex');
}

const KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const jsonKind = (v: unknown): number => (typeof v === 'number' ? v : Math.max(0, KINDS.indexOf(str(v))));
const STATUS = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
const jsonStatusCode = (v: unknown): number => (typeof v === 'number' ? v : Math.max(0, STATUS.indexOf(str(v))));

function jsonTime(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'number') return BigInt(v).toString();
  const { low, high } = obj(v);
  if (typeof low === 'number' && typeof high === 'number') return ((BigInt(high >>> 0) << 32n) | BigInt(low >>> 0)).toString();
  return '0';
}

function jsonAttributes(list: unknown): OtlpAttributes {
  const out: OtlpAttributes = {};
  for (const kv of arr(list)) out[str(obj(kv).key)] = jsonValue(obj(kv).value);
  return out;
}

function jsonValue(v: unknown): OtlpValue {
  const o = obj(v);
  if ('stringValue' in o) return str(o.stringValue);
  if ('boolValue' in o) return o.boolValue === true;
  if ('intValue' in o) return Number(o.intValue);
  if ('doubleValue' in o) return Number(o.doubleValue);
  if ('arrayValue' in o) return arr(obj(o.arrayValue).values).map(jsonValue);
  if ('kvlistValue' in o) return jsonAttributes(obj(o.kvlistValue).values);
  if ('bytesValue' in o) return Buffer.from(str(o.bytesValue), 'base64').toString('hex');
  return null;
}

// ---- OTLP/protobuf --------------------------------------------------------------------------
// Just the wire format (varint, fixed64, length-delimited, fixed32) and the field numbers of
// opentelemetry/proto/collector/trace/v1 ExportTraceServiceRequest; unknown fields are skipped.

interface Field {
  no: number;
  /** Varint (wire 0) or fixed64 (wire 1) value. */
  int?: bigint;
  /** Length-delimited (wire 2) content. */
  bytes?: Uint8Array;
}

function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (pos >= buf.length) throw new OtlpParseError('truncated varint');
      if (shift > 63n) throw new OtlpParseError('varint too long');
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
  };
  const take = (n: number): Uint8Array => {
    if (n < 0 || pos + n > buf.length) throw new OtlpParseError('truncated field');
    const part = buf.subarray(pos, pos + n);
    pos += n;
    return part;
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    switch (key & 7) {
      case 0:
        out.push({ no, int: varint() });
        break;
      case 1:
        out.push({ no, int: Buffer.from(take(8)).readBigUInt64LE() });
        break;
      case 2:
        out.push({ no, bytes: take(Number(varint())) });
        break;
      case 5:
        out.push({ no, int: BigInt(Buffer.from(take(4)).readUInt32LE()) });
        break;
      default:
        throw new OtlpParseError(`unsupported wire type ${key & 7} (field ${no})`);
    }
  }
  return out;
}

const all = (fs: Field[], no: number): Uint8Array[] => fs.filter((f) => f.no === no && f.bytes).map((f) => f.bytes!);
const one = (fs: Field[], no: number): Uint8Array | undefined => all(fs, no).at(-1);
const int = (fs: Field[], no: number): bigint => fs.filter((f) => f.no === no && f.int !== undefined).at(-1)?.int ?? 0n;
const text = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('utf8') : '');
const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : '');

/** An ExportTraceServiceRequest in protobuf. */
export function parseOtlpProtobuf(body: Uint8Array): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  for (const rs of all(fields(body), 1).map(fields)) {
    const resourceFields = one(rs, 1);
    const resource = pbAttributes(resourceFields ? fields(resourceFields) : [], 1);
    for (const ss of all(rs, 2).map(fields)) {
      const scopeFields = one(ss, 1);
      const scope = text(scopeFields ? one(fields(scopeFields), 1) : undefined);
      for (const s of all(ss, 2).map(fields)) {
        const status = fields(one(s, 15) ?? new Uint8Array());
        out.push({
          traceId: hex(one(s, 1)),
          spanId: hex(one(s, 2)),
          parentSpanId: hex(one(s, 4)),
          name: text(one(s, 5)),
          kind: Number(int(s, 6)),
          service: String(resource['service.name'] ?? ''),
          resource,
          scope,
          attributes: pbAttributes(s, 9),
          events: all(s, 11).map(fields).map((e) => ({ name: text(one(e, 2)), attributes: pbAttributes(e, 3) })),
          links: all(s, 13).map(fields).map((l) => ({ traceId: hex(one(l, 1)), spanId: hex(one(l, 2)), attributes: pbAttributes(l, 4) })),
          status: { code: Number(int(status, 3)), message: text(one(status, 2)) },
          startTimeUnixNano: int(s, 7).toString(),
          endTimeUnixNano: int(s, 8).toString(),
        });
      }
    }
  }
  return out;
}

function pbAttributes(fs: Field[], no: number): OtlpAttributes {
  const out: OtlpAttributes = {};
  for (const kv of all(fs, no).map(fields)) {
    const value = one(kv, 2);
    out[text(one(kv, 1))] = value ? pbValue(fields(value)) : null;
  }
  return out;
}

function pbValue(v: Field[]): OtlpValue {
  const f = v.at(-1);
  if (!f) return null;
  switch (f.no) {
    case 1:
      return text(f.bytes);
    case 2:
      return f.int === 1n;
    case 3:
      return Number(BigInt.asIntN(64, f.int ?? 0n));
    case 4: {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(f.int ?? 0n);
      return b.readDoubleLE();
    }
    case 5:
      return all(fields(f.bytes ?? new Uint8Array()), 1).map((x) => pbValue(fields(x)));
    case 6:
      return pbAttributes(fields(f.bytes ?? new Uint8Array()), 1);
    case 7:
      return hex(f.bytes);
    default:
      return null;
  }
}

// ---- the server -----------------------------------------------------------------------------

export interface OtlpReceiverOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** Called with the spans of every accepted request. */
  onSpans?: (spans: OtlpSpan[]) => void;
  /** Largest accepted body (decompressed); default 16 MiB. */
  maxBodyBytes?: number;
}

export interface OtlpReceiver {
  /** `http://host:port`: what OTEL_EXPORTER_OTLP_ENDPOINT takes. */
  readonly url: string;
  readonly port: number;
  /** Every span received so far. */
  spans(): OtlpSpan[];
  /** Requests accepted and refused so far. */
  stats(): { accepted: number; refused: number };
  /** Resolves with the spans once `done(spans)` is true; rejects after `timeoutMs`. */
  waitFor(done: (spans: OtlpSpan[]) => boolean, timeoutMs?: number): Promise<OtlpSpan[]>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(opts: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const received: OtlpSpan[] = [];
  const counts = { accepted: 0, refused: 0 };
  const maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const server: Server = createServer((req, res) => {
    void handle(req, res, maxBody).then(
      (spans) => {
        counts.accepted++;
        received.push(...spans);
        opts.onSpans?.(spans);
      },
      () => counts.refused++,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`,
    port,
    spans: () => [...received],
    stats: () => ({ ...counts }),
    async waitFor(done, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!done(received)) {
        if (Date.now() > deadline) throw new Error(`OTLP receiver: condition not met within ${timeoutMs} ms (${received.length} spans received)`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return [...received];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers one request; resolves with its spans, rejects (after answering) when refused. */
async function handle(req: IncomingMessage, res: ServerResponse, maxBody: number): Promise<OtlpSpan[]> {
  const type = req.headers['content-type'] ?? '';
  const protobuf = /protobuf/i.test(type);
  const refuse = (status: number, message: string): never => {
    // OTLP/HTTP: a google.rpc.Status body; JSON is enough for a test's eyes.
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 3, message }));
    throw new OtlpParseError(message);
  };
  if (req.method !== 'POST' || (req.url ?? '').split('?')[0] !== '/v1/traces') {
    req.resume();
    return refuse(404, `${req.method} ${req.url}: only POST /v1/traces is served`);
  }
  let body: Buffer;
  try {
    body = await readBody(req, maxBody);
    const encoding = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding === 'gzip') body = gunzipSync(body, { maxOutputLength: maxBody });
    else if (encoding !== 'identity') return refuse(415, `unsupported content-encoding ${encoding}`);
  } catch (err) {
    if (err instanceof OtlpParseError) throw err;
    return refuse(400, `cannot read the body: ${(err as Error).message}`);
  }
  let spans: OtlpSpan[];
  try {
    spans = parseOtlpTraces(body, type);
  } catch (err) {
    return refuse(/content type/.test((err as Error).message) ? 415 : 400, (err as Error).message);
  }
  // An empty ExportTraceServiceResponse: {} in JSON, zero bytes in protobuf.
  if (protobuf) res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  return spans;
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.destroy();
        reject(new Error(`body larger than ${max} bytes`));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `--listen host:port` → prints `OTLP-SPAN <json>` per span, until SIGTERM/SIGINT. */
async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--listen');
  const listen = i >= 0 ? argv[i + 1] : '127.0.0.1:4318';
  const m = /^(.*):(\d+)$/.exec(listen ?? '');
  if (!m) throw new Error(`--listen host:port, not ${JSON.stringify(listen)}`);
  const receiver = await startOtlpReceiver({
    host: m[1].replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    onSpans: (spans) => process.stdout.write(spans.map((s) => `${OTLP_SPAN_PREFIX}${JSON.stringify(s)}\n`).join('')),
  });
  process.stdout.write(`otlp receiver listening on ${receiver.url}\n`);
  const stop = () => void receiver.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`otlp receiver: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
