import type { LoggerService } from '@nestjs/common';

/**
 * Structured logs: one JSON object per line on stderr, with time, level, service, message and
 * fields. Fields whose names look like secrets are redacted before they are written, as a last
 * line of defence; code must not log secrets in the first place.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_FIELD = /private|secret|token|password|passwd|authorization/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  service: string;
  level?: Level;
  write?: (line: string) => void;
  base?: Record<string, unknown>;
}

export function parseLevel(text: string | undefined): Level {
  if (text === undefined || text === '') return 'info';
  if (text in ORDER) return text as Level;
  throw new Error(`log level "${text}" must be one of debug, info, warn, error`);
}

export function createLogger(opts: LoggerOptions): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const base = { service: opts.service, ...opts.base };
  const log = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, ...base, msg, ...redact(fields) }));
  };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => createLogger({ ...opts, base: { ...opts.base, ...fields } }),
  };
}

function redact(fields?: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!fields) return fields;
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_FIELD.test(k)) (out ??= { ...fields })[k] = '[redacted]';
    else if (v instanceof Error) (out ??= { ...fields })[k] = v.message;
  }
  return out ?? fields;
}

/** Routes NestJS's own log calls into the structured logger. */
export class NestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    this.logger.info(String(message), { context });
  }
  warn(message: unknown, context?: string) {
    this.logger.warn(String(message), { context });
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error(String(message), { context, trace });
  }
  debug(message: unknown, context?: string) {
    this.logger.debug(String(message), { context });
  }
  verbose(message: unknown, context?: string) {
    this.logger.debug(String(message), { context });
  }
}
