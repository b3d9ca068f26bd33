// struct sockaddr layouts (AF_UNIX, AF_INET, AF_INET6) and the peer identity the
// kernel keeps for a connected socket (SO_PEERCRED, SO_PEERGROUPS).
import type * as Net from 'node:net';
import { csError, errnoError, type CsError } from './errors';
import {
  AF_UNIX, AF_INET, AF_INET6, SOL_SOCKET, SO_PEERCRED, SO_PEERGROUPS,
  getsockopt, getsockoptRaw, sockname, getaddrinfoRaw, interfaceIndex, interfaceName,
} from './libc';

// internet addresses only: an fdp path never loads node:net (and node:stream with it)
const isIPv4 = (address: string): boolean => (require('node:net') as typeof Net).isIPv4(address);

/** sun_path holds 108 bytes including the terminating NUL. */
export const UNIX_PATH_MAX = 107;

export function unixAddr(path: string): Buffer {
  const p = Buffer.from(path);
  if (p.length > UNIX_PATH_MAX) throw csError('ENAMETOOLONG', 'bind', path, `socket path is ${p.length} bytes, the limit is ${UNIX_PATH_MAX}`);
  const a = Buffer.alloc(2 + p.length + 1);
  a.writeUInt16LE(AF_UNIX, 0);
  p.copy(a, 2);
  return a;
}

/**
 * The address of a datagram peer named like systemd's $NOTIFY_SOCKET: a path, or
 * with a leading '@' an abstract name (sun_path starts with a NUL; the length, not a
 * terminator, ends the name).
 */
export function unixPeerAddr(name: string): Buffer {
  if (!name.startsWith('@')) return unixAddr(name);
  const n = Buffer.from(name.slice(1));
  if (n.length + 1 > UNIX_PATH_MAX) throw csError('ENAMETOOLONG', 'sendto', name, `abstract name is ${n.length} bytes, the limit is ${UNIX_PATH_MAX - 1}`);
  const a = Buffer.alloc(2 + 1 + n.length);
  a.writeUInt16LE(AF_UNIX, 0);
  n.copy(a, 3);
  return a;
}

export interface InetAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

export function inetAddr(address: string, port: number): Buffer {
  if (isIPv4(address)) {
    const a = Buffer.alloc(16);
    a.writeUInt16LE(AF_INET, 0);
    a.writeUInt16BE(port, 2);
    address.split('.').forEach((o, i) => a.writeUInt8(Number(o), 4 + i));
    return a;
  }
  const [bare, zone] = address.split('%');
  const a = Buffer.alloc(28);
  a.writeUInt16LE(AF_INET6, 0);
  a.writeUInt16BE(port, 2);
  ipv6Bytes(bare).copy(a, 8);
  if (zone !== undefined) a.writeUInt32LE(scopeId(zone, address), 24);
  return a;
}

/** An IPv6 zone (interface name or number) as the scope id the kernel wants. */
function scopeId(zone: string, address: string): number {
  const index = /^[0-9]+$/u.test(zone) ? Number(zone) : interfaceIndex(zone);
  if (index === 0 || index > 0xffffffff) throw csError('ENXIO', 'if_nametoindex', undefined, `address '${address}' names no network interface '${zone}'`);
  return index;
}

function ipv6Bytes(address: string): Buffer {
  const [head, tail = ''] = address.includes('::') ? address.split('::') : [address, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':') : []);
  const left = parse(head);
  const right = parse(tail);
  const v4 = (parts: string[]) => {
    const last = parts[parts.length - 1];
    if (last && isIPv4(last)) {
      const o = last.split('.').map(Number);
      parts.splice(parts.length - 1, 1, ((o[0] << 8) | o[1]).toString(16), ((o[2] << 8) | o[3]).toString(16));
    }
  };
  if (right.length) v4(right);
  else v4(left);
  const fill = address.includes('::') ? new Array(8 - left.length - right.length).fill('0') : [];
  const words = [...left, ...fill, ...right];
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16) & 0xffff, 2 * i));
  return b;
}

/** An address as 16 bytes, IPv4 as IPv4-mapped IPv6, so both spellings of one address agree (zone ids dropped). */
export function inet6Bytes(address: string): Buffer {
  return ipv6Bytes(isIPv4(address) ? `::ffff:${address}` : address.split('%')[0]);
}

/** Decode a sockaddr_in/in6 written by the kernel. */
export function decodeInet(a: Buffer): InetAddress {
  const family = a.readUInt16LE(0);
  const port = a.readUInt16BE(2);
  if (family === AF_INET) return { family: 4, address: [...a.subarray(4, 8)].join('.'), port };
  const words: string[] = [];
  for (let i = 0; i < 8; i++) words.push(a.readUInt16BE(8 + 2 * i).toString(16));
  const bare = words.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  const scope = a.length >= 28 ? a.readUInt32LE(24) : 0;
  // a link-local address means nothing without its interface
  return { family: 6, address: scope ? `${bare}%${interfaceName(scope) ?? scope}` : bare, port };
}

export function localInet(fd: number, peer = false): InetAddress {
  const a = Buffer.alloc(28);
  sockname(fd, a, peer);
  return decodeInet(a);
}

/** The AF_UNIX path a socket is bound to ('' when unnamed). */
export function localUnixPath(fd: number, peer = false): string {
  const a = Buffer.alloc(110);
  const len = sockname(fd, a, peer);
  const end = a.indexOf(0, 2);
  return a.toString('utf8', 2, end < 0 || end > len ? len : end);
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

const credBuf = Buffer.alloc(12);

/** The identity the kernel recorded when the peer connected. */
export function peerCred(fd: number): PeerCred {
  getsockopt(fd, SOL_SOCKET, SO_PEERCRED, credBuf);
  return { pid: credBuf.readInt32LE(0), uid: credBuf.readUInt32LE(4), gid: credBuf.readUInt32LE(8) };
}

let groupsBuf = Buffer.alloc(4 * 64);

/** The peer's supplementary groups at connect time. */
export function peerGroups(fd: number): number[] {
  let n = getsockoptRaw(fd, SOL_SOCKET, SO_PEERGROUPS, groupsBuf);
  if (n === -34 /* ERANGE: the kernel reports the size it needs */) {
    groupsBuf = Buffer.alloc(Math.max(groupsBuf.length * 2, 4 * 65536));
    n = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groupsBuf);
  } else if (n < 0) {
    n = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groupsBuf);
  }
  const groups: number[] = [];
  for (let i = 0; i + 4 <= n; i += 4) groups.push(groupsBuf.readUInt32LE(i));
  return groups;
}

/** Node's codes and (libuv) errno values for getaddrinfo failures, as dns.lookup reports them. */
const RESOLVER_ERRORS: Record<number, [code: string, errno: number, text: string]> = {
  [-2]: ['ENOTFOUND', -3008, 'host not found'], // EAI_NONAME
  [-5]: ['ENOTFOUND', -3008, 'host not found'], // EAI_NODATA
  [-9]: ['ENOTFOUND', -3008, 'host not found'], // EAI_ADDRFAMILY
  [-3]: ['EAI_AGAIN', -3001, 'temporary failure in name resolution'],
  [-4]: ['EAI_FAIL', -3004, 'permanent failure in name resolution'],
  [-10]: ['ENOMEM', -12, 'out of memory'],
};

/** The error dns.lookup would give for `host`: code ENOTFOUND (or EAI_AGAIN...), syscall getaddrinfo. */
export function resolverError(status: number, host: string, path?: string, errno = 0): CsError {
  const EAI_SYSTEM = -11;
  if (status === EAI_SYSTEM) return errnoError(errno, 'getaddrinfo', path, `resolving host '${host}'`);
  const [code, num, text] = RESOLVER_ERRORS[status] ?? ['ENOTFOUND', -3008, 'host not found'];
  const err = csError(code, 'getaddrinfo', path, `unknown host '${host}'`);
  err.errno = num;
  err.message = err.message.replace(/^([A-Z_]+): [^,]*,/, `$1: ${text},`);
  return Object.assign(err, { hostname: host });
}

/** The addresses of `host` from the system resolver (getaddrinfo), in its order, without repeats. */
export function lookupHost(host: string, family: 0 | 4 | 6 = 0, path?: string): string[] {
  const r = getaddrinfoRaw(host, family === 4 ? AF_INET : family === 6 ? AF_INET6 : 0);
  if (!Array.isArray(r)) throw resolverError(r.status, host, path, r.errno);
  return [...new Set(r.map((a) => decodeInet(a).address))];
}
