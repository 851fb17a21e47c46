import type { Logger } from '@wgmesh/log';

/** The logger of a driver or programmer given none: drops everything. */
export const quietLog: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => quietLog,
};
