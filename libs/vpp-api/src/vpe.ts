import type { VppApi } from './client';
import { checkRetval } from './retval';

export interface VppVersion {
  program: string;
  version: string;
  buildDate: string;
  buildDirectory: string;
}

/** show_version: "26.06-release" and friends. */
export async function showVersion(api: VppApi): Promise<VppVersion> {
  const r = checkRetval('show_version', await api.request('show_version'));
  return {
    program: r.program as string,
    version: r.version as string,
    buildDate: r.build_date as string,
    buildDirectory: r.build_directory as string,
  };
}
