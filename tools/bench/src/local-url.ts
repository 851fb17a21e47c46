import { values } from '@wgmesh/config';

/** An option's URL on this machine only (127.0.0.1, localhost, ::1): the benches never send anything elsewhere. */
export function localUrl(schemes: string[]): (t: string) => string {
  return (t: string) => {
    const url = values.url(schemes)(t);
    const host = new URL(url).hostname;
    if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') throw new Error(`"${t}" must be on this machine (127.0.0.1)`);
    return url;
  };
}
