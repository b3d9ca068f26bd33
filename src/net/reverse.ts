// csfull (cs.3): the full name of a host from its address, the reverse of csaddr.
import { inetAddr, nameInfoRaw, resolverError } from '../sys';
import { hostsFile, hostsFileEntries } from './hosts';
import { csntoa } from './routines';

/**
 * The fully qualified name of the host with IPv4 address number `addr` (as csaddr
 * returns it): from $CS_HOSTS_FILE when set, else the system resolver's reverse
 * lookup. ENOTFOUND when the address has no name; EINVAL for a bad number.
 */
export function csfull(addr: number): string {
  const address = csntoa(addr);
  const file = hostsFile();
  if (file !== null) {
    const entry = hostsFileEntries(file).find((e) => e.address === address);
    if (entry === undefined) throw resolverError(-2, address);
    return entry.names[0];
  }
  const r = nameInfoRaw(inetAddr(address, 0));
  if (typeof r === 'string') return r;
  throw resolverError(r.status, address, undefined, r.errno);
}
