// csopen(CS_OPEN_CREATE) and csrecv for tcp and udp paths, server side. A server
// binds the service's port, or an ephemeral one when a hashed port is held by
// something else, and records where it listens; accepting gives each stream the
// peer's identity as the kernel knows it, then the service's access rules apply.
import {
  accept, close, csError, listen, localInet, setsockoptInt, Watcher,
  IPPROTO_IPV6, IPPROTO_TCP, IPV6_V6ONLY, SOCK_NONBLOCK, TCP_NODELAY, type CsError,
} from '../sys';
import { acceptPending, driveAsync, driveSync, handOver, handshakeTimeout } from '../io';
import { createMountDir, isThisHost, lockSync, type MountDir } from '../namespace';
import { lookupServicesFile } from '../port';
import type { CsPath } from '../path';
import { BACKLOG } from '../stream/flags';
import { lookup, remember } from '../stream/registry';
import { hasRules, serverAuth, type Rules } from './auth';
import { literalAddress, resolveHostSync } from './hosts';
import { peerId, type Endpoint, type NetId } from './identity';
import { netPath } from './netpath';
import { liveServer, writeRecord } from './record';
import { checkNetPath, netServiceDir, onHost, portOf, type NetPath } from './service';
import { bindSocket, netSocket } from './socket';

/** Names, numbers and inet.<name>/services entries keep their port; only hashed names may slip to another. */
function portMaySlip(p: NetPath): boolean {
  return !/^[0-9]+$/u.test(p.service) && !p.service.startsWith('inet.') && !lookupServicesFile().has(`${p.service}/${p.proto}`);
}

/**
 * The address a server for `p` binds: a literal address as written (`127.0.0.1` or
 * `[::1]`: loopback only), else every address of this host, IPv6 and IPv4 (`::`).
 */
function bindAddress(p: NetPath): string {
  const literal = literalAddress(p.host);
  if (literal !== null) return literal;
  if (p.host === 'share' || isThisHost(p.host)) return '::';
  return resolveHostSync(p.host, p.canonical)[0];
}

/**
 * A socket for `ep`; `::` is dual-stack (IPV6_V6ONLY off, so IPv4 peers arrive as
 * mapped addresses), or every IPv4 address where this host has no IPv6.
 */
function serverSocket(proto: NetPath['proto'], ep: Endpoint): { fd: number; ep: Endpoint } {
  if (ep.address !== '::') return { fd: netSocket(proto, ep.address), ep };
  let fd: number;
  try {
    fd = netSocket(proto, '::');
  } catch (e) {
    if ((e as CsError).code !== 'EAFNOSUPPORT') throw e;
    return { fd: netSocket(proto, '0.0.0.0'), ep: { ...ep, address: '0.0.0.0' } };
  }
  setsockoptInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
  return { fd, ep };
}

/**
 * Bind the service `p` (mount directory `md`, whose X-cs.mnt lock the caller holds),
 * listen for tcp, and record the endpoint with this process as its server; returns a
 * non-blocking fd. EADDRINUSE when a live server already has it. Auto-start uses
 * this to bind before handing the socket to the server it spawns.
 */
export function bindNetService(p: CsPath, md: MountDir): number {
  checkNetPath(p, 'csopen');
  const pid = liveServer(md);
  if (pid !== null) throw csError('EADDRINUSE', 'csopen', p.canonical, `already served by pid ${pid}`);
  // service 0 asks the system for a port, as cs.3 promises for a created stream
  const { fd, ep } = serverSocket(p.proto, { address: bindAddress(p), port: /^0+$/u.test(p.service) ? 0 : portOf(p) });
  try {
    try {
      bindSocket(fd, p.proto, ep, p.canonical);
    } catch (e) {
      if ((e as CsError).code !== 'EADDRINUSE' || !portMaySlip(p)) throw e;
      bindSocket(fd, p.proto, { ...ep, port: 0 }, p.canonical);
    }
    if (p.proto === 'tcp') listen(fd, BACKLOG, p.canonical);
    writeRecord(md, p.proto, localInet(fd));
    remember(fd, netPath(fd), md);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** The mount directory a server of `p` serves (`share` is served here). */
export function netServerDir(p: CsPath): MountDir {
  checkNetPath(p, 'csopen');
  return netServiceDir(p.host === 'share' ? onHost(p, 'local') : p);
}

/** Create the service `p` (csopen with CS_OPEN_CREATE): the lock, the mount directory, the bound socket. */
export function netCreate(p: CsPath): number {
  const md = netServerDir(p);
  createMountDir(md);
  const lock = lockSync(md);
  try {
    return bindNetService(p, md);
  } finally {
    lock.release();
  }
}

/** Make a freshly accepted tcp stream ready (no Nagle delay) and tell whose it is; closes `fd` on failure. */
export function netStreamId(fd: number): NetId {
  try {
    setsockoptInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    return peerId(fd);
  } catch (e) {
    close(fd);
    throw e;
  }
}

/**
 * Accept one pending connection on tcp listener `listenFd` without waiting; null
 * when none is pending. The new stream is non-blocking; `id` is the peer's identity.
 */
export function acceptNet(listenFd: number): { fd: number; id: NetId } | null {
  const fd = accept(listenFd, SOCK_NONBLOCK);
  return fd < 0 ? null : { fd, id: netStreamId(fd) };
}

/** Run a service's access rules on a freshly accepted stream (sync); returns the admitted identity. */
export function admitSync(fd: number, id: NetId, rules: Rules | undefined, path: string): NetId {
  return hasRules(rules) ? driveSync(serverAuth(fd, id, rules, path), fd, handshakeTimeout(), 'csrecv', path) : id;
}

/** Async form of admitSync, on the stream's watcher. */
export function admitAsync(fd: number, watcher: Watcher, id: NetId, rules: Rules | undefined, path: string, signal?: AbortSignal): Promise<NetId> {
  return hasRules(rules) ? driveAsync(serverAuth(fd, id, rules, path), watcher, handshakeTimeout(), 'csrecv', path, signal) : Promise.resolve(id);
}

/**
 * csrecv on a tcp listener: wait for a client (if the listener is blocking),
 * admit it under the service's rules and return the blocking stream and its identity.
 */
export function netAccept(listenFd: number): { fd: number; id: NetId } {
  const info = lookup(listenFd);
  const path = info?.path ?? `fd ${listenFd}`;
  const fd = acceptPending(listenFd, 'csrecv', path);
  const r = { fd, id: netStreamId(fd) };
  try {
    const id = admitSync(r.fd, r.id, info?.md, path);
    remember(r.fd, netPath(r.fd));
    return { fd: handOver(r.fd), id };
  } catch (e) {
    close(r.fd);
    throw e;
  }
}
