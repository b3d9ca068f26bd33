// The portable server routines of cs.3 for internet hosts: csname, csaddr (with its
// cache), csntoa, csinet, csfdmax. Errors are thrown, as everywhere in cs.
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { hostname } from 'node:os';
import { csError, resolverError, type CsError } from '../sys';
import { isThisHost } from '../namespace';
import { parsePath } from '../path';
import { csport } from '../port';
import { canonicalAddress, hostAddress, ipv4Number, literalAddress, resolveHostSync } from './hosts';
import { pickShareHost } from './remote';

/** This host's name. */
export function csname(): string {
  return hostname();
}

let caching = false;
const addrCache = new Map<string, number>();

/**
 * The IPv4 address of host `name` as a number. `cache` > 0 turns caching of answers
 * on, 0 turns it off (and forgets them), < 0 keeps the current setting.
 * `local`, '' and this host's names give the address others reach it by;
 * `share` the least-loaded live host. ENOTFOUND when the host has no IPv4 address.
 */
export function csaddr(name: string, cache = 0): number {
  if (cache > 0) caching = true;
  else if (cache === 0) {
    caching = false;
    addrCache.clear();
  }
  const key = name.toLowerCase();
  const hit = caching ? addrCache.get(key) : undefined;
  if (hit !== undefined) return hit;
  const addr = ipv4Number(hostIPv4(key));
  if (caching) addrCache.set(key, addr);
  return addr;
}

function hostIPv4(name: string): string {
  if (name === 'share') return hostIPv4(pickShareHost() ?? 'local');
  if (literalAddress(name) === null && (name === '' || isThisHost(name))) return hostAddress();
  const v4 = resolveHostSync(name).map(canonicalAddress).find((a) => isIPv4(a));
  if (v4 === undefined) throw resolverError(-2, name);
  return v4;
}

/** `n.n.n.n` for an IPv4 address number. */
export function csntoa(addr: number): string {
  if (!Number.isInteger(addr) || addr < 0 || addr > 0xffffffff) {
    throw csError('EINVAL', 'csntoa', undefined, `${addr} is not an IPv4 address number 0..4294967295`);
  }
  return [addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255].join('.');
}

export interface InetPath {
  /** The IPv4 address as a number; 0 for an IPv6 address (see `address`). */
  addr: number;
  /** The address as text: n.n.n.n, or IPv6 (with its zone, if any). */
  address: string;
  /** 0 when the path names no service. */
  port: number;
  proto: 'tcp' | 'udp';
}

/** The address, port and protocol a tcp/udp path names (csaddr's cache setting applies; IPv6 literals need no lookup). */
export function csinet(path: string): InetPath {
  const p = parsePath(path);
  if (p.proto === 'fdp') throw csError('EINVAL', 'csinet', path, 'not a tcp or udp path');
  if (p.host === null) throw csError('EINVAL', 'csinet', path, 'the path names no host');
  let port = 0;
  if (p.service !== null) {
    try {
      port = csport(p.proto, p.service);
    } catch (e) {
      throw Object.assign(e as CsError, { path });
    }
  }
  const literal = literalAddress(p.host);
  if (literal !== null && !isIPv4(canonicalAddress(literal))) return { addr: 0, address: canonicalAddress(literal), port, proto: p.proto };
  const addr = csaddr(p.host, -1);
  return { addr, address: csntoa(addr), port, proto: p.proto };
}

/** The most descriptors this process may have open (its soft RLIMIT_NOFILE), at least 20. */
export function csfdmax(): number {
  const m = /^Max open files\s+(\S+)/mu.exec(readFileSync('/proc/self/limits', 'utf8'));
  const soft = m && m[1] !== 'unlimited' ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
  return Math.max(20, soft);
}
