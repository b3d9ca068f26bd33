// Host component of a tcp/udp path -> addresses: literals as written, names of this
// host, then either the hosts file named by $CS_HOSTS_FILE (which then replaces the
// system resolver, so tests and closed networks resolve hermetically) or the system
// resolver: getaddrinfo(3) in synchronous code, dns.lookup (the same call on libuv's
// thread pool) in async code.
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP, isIPv4 } from 'node:net';
import { networkInterfaces } from 'node:os';
import { lookupHost, resolverError } from '../sys';
import { isThisHost } from '../namespace';
import { primaryAddress } from '../namespace/host';

export const LOOPBACK = '127.0.0.1';
const EAI_NONAME = -2;

/** `[::1]` -> `::1`; `10.0.0.1` as is; null for a name. */
export function literalAddress(host: string): string | null {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return isIP(bare.split('%')[0]) ? bare : null;
}

/** One spelling per address: IPv4-mapped IPv6 as dotted IPv4, IPv6 compressed in lower case. */
export function canonicalAddress(address: string): string {
  if (isIPv4(address)) return address;
  const [bare, zone] = address.split('%');
  // the URL parser writes each IPv6 address one way (and IPv4-mapped ones in hex words)
  const v6 = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/u.exec(v6);
  if (!mapped) return zone === undefined ? v6 : `${v6}%${zone}`;
  const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
}

/** An address as a path's host component: IPv6 in brackets. */
export function addressHost(address: string): string {
  const a = canonicalAddress(address);
  return isIPv4(a) ? a : `[${a}]`;
}

/** This host's address for others to reach it: its first external IPv4 address, else loopback. */
export const hostAddress = primaryAddress;

/**
 * True when `host` is this machine: by name, or because an address it resolves to
 * is on one of this host's interfaces (hosts that share a name but not a network,
 * like containers and network namespaces, are told apart so).
 */
export function isLocalHost(host: string): boolean {
  if (isThisHost(host)) return true;
  let addresses: string[];
  try {
    addresses = resolveHostSync(host);
  } catch {
    return false;
  }
  const mine = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => canonicalAddress(i.address)));
  return addresses.some((a) => mine.includes(a));
}

/** The hosts-file override, if any. */
export function hostsFile(): string | null {
  return process.env.CS_HOSTS_FILE || null;
}

/** The entries of an /etc/hosts-style file (`address name [alias...]`, # comments), in file order; none if unreadable. */
export function hostsFileEntries(file: string): { address: string; names: string[] }[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const entries: { address: string; names: string[] }[] = [];
  for (const line of text.split('\n')) {
    const [address, ...names] = line.replace(/#.*/u, '').trim().split(/\s+/u);
    if (address && isIP(address) && names.length) entries.push({ address: canonicalAddress(address), names });
  }
  return entries;
}

/** Addresses of `name` in an /etc/hosts-style file, in file order. */
export function lookupHostsFile(file: string, name: string): string[] {
  const want = name.toLowerCase();
  const found = hostsFileEntries(file).filter((e) => e.names.some((n) => n.toLowerCase() === want)).map((e) => e.address);
  return [...new Set(found)];
}

/** Addresses that need no resolver, or null when `host` is a name to look up. */
function withoutResolver(host: string, path?: string): string[] | null {
  const literal = literalAddress(host);
  if (literal !== null) return [literal];
  if (isThisHost(host)) return [LOOPBACK];
  const file = hostsFile();
  if (file === null) return null;
  const found = lookupHostsFile(file, host);
  if (found.length === 0) throw resolverError(EAI_NONAME, host, path);
  return found;
}

/** The addresses of `host`, IPv4 first (synchronous: blocks on the system resolver). */
export function resolveHostSync(host: string, path?: string): string[] {
  return ipv4First(withoutResolver(host, path) ?? lookupHost(host, 0, path).map(canonicalAddress));
}

/** The addresses of `host`, IPv4 first, without blocking the event loop. */
export async function resolveHost(host: string, path?: string): Promise<string[]> {
  const known = withoutResolver(host, path);
  if (known !== null) return ipv4First(known);
  try {
    const all = await lookup(host, { all: true, verbatim: true });
    return ipv4First([...new Set(all.map((a) => canonicalAddress(a.address)))]);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // same shape as the synchronous resolver's errors: the cs path and the host named
    throw Object.assign(resolverError(err.code === 'EAI_AGAIN' ? -3 : EAI_NONAME, host, path), { cause: e });
  }
}

/** IPv4 first, as libcs (an IPv4 library) would reach a host. */
function ipv4First(addresses: string[]): string[] {
  return [...addresses.filter((a) => isIPv4(a)), ...addresses.filter((a) => !isIPv4(a))];
}

/** The address as a 32-bit number (cs.3's `hid` and csaddr()), 0 for IPv6 that is not IPv4-mapped. */
export function ipv4Number(address: string): number {
  const a = canonicalAddress(address);
  if (!isIPv4(a)) return 0;
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}
