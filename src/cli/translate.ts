// `cs -t HOST`: the address a host name stands for; `local` is this host. Names
// resolve as tcp/udp paths do (net/hosts.ts), so $CS_HOSTS_FILE applies.
import { isIP } from 'node:net';
import { resolveHost } from '../net/hosts';
import { hostAddress } from '../net';
import { csError } from '../sys';

export interface Translated {
  host: string;
  address: string;
  family: number;
}

/** Refuse what cannot name one host (EINVAL), before anything is looked up. */
export function checkHost(host: string): void {
  if (host === 'share') throw csError('EINVAL', 'translate', host, "'share' means any host of the local network, not one address");
  if (host === '' || /[\s/\0]/u.test(host)) throw csError('EINVAL', 'translate', host, 'not a host name');
}

export async function translateHost(host: string): Promise<Translated> {
  checkHost(host);
  // this host by its address others reach it at, as libcs answers (loopback when it has no other)
  const address = host === 'local' ? hostAddress() : (await resolveHost(host))[0];
  return { host, address, family: isIP(address) };
}
