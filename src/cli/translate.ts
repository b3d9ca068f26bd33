// `cs -t HOST`: the address a host name stands for; `local` is this host.
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { csError } from '../sys';

export interface Translated {
  host: string;
  address: string;
  family: number;
}

/** libcs answers for `local` with the loopback address when this host's name does not resolve. */
const LOOPBACK = '127.0.0.1';

export async function translateHost(host: string): Promise<Translated> {
  const literal = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(literal)) return { host, address: literal, family: isIP(literal) };
  if (host === 'share') throw csError('EINVAL', 'translate', host, "'share' means any host of the local network, not one address");
  if (literal === '' || /[\s/\0]/u.test(literal)) throw csError('EINVAL', 'translate', host, 'not a host name');
  const name = host === 'local' ? hostname() : host;
  let found: { address: string; family: number }[];
  try {
    found = await lookup(name, { all: true });
  } catch (e) {
    if (host === 'local') return { host, address: LOOPBACK, family: 4 };
    throw e;
  }
  const best = found.find((a) => a.family === 4) ?? found[0]!;
  return { host, address: best.address, family: best.family };
}
