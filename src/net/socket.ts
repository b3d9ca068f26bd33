// Internet sockets for cs streams: made through the system-call layer, connected
// within a deadline (non-blocking connect, then readiness: poll(2) in synchronous
// code, libuv in async code), so no connect ever waits for the kernel's own timeout.
import { isIPv4 } from 'node:net';
import {
  bind, close, connect, csError, errnoError, getsockopt, inetAddr, setsockoptInt, socket, Watcher,
  AF_INET, AF_INET6, IPPROTO_TCP, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_ERROR, SO_REUSEADDR, TCP_NODELAY,
} from '../sys';
import { ready, waitSync } from '../io';
import type { Endpoint } from './identity';

export type NetProto = 'tcp' | 'udp';

/** The sockaddr of an endpoint; an IPv6 zone (`fe80::1%eth0`) becomes its scope id. */
export function sockaddr(ep: Endpoint): Buffer {
  return inetAddr(ep.address, ep.port);
}

/** A fresh non-blocking socket for `proto` in the family of `address`. */
export function netSocket(proto: NetProto, address: string): number {
  const fd = socket(isIPv4(address) ? AF_INET : AF_INET6, (proto === 'tcp' ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK);
  // request/reply traffic: send each write at once rather than wait to fill a segment
  if (proto === 'tcp') setsockoptInt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
  return fd;
}

/**
 * Bind `fd` to `ep`. tcp sets SO_REUSEADDR so a restarted server takes its port back
 * from TIME_WAIT; udp must not, as there it would let two servers share one port.
 */
export function bindSocket(fd: number, proto: NetProto, ep: Endpoint, path?: string): void {
  if (proto === 'tcp') setsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  bind(fd, sockaddr(ep), path);
}

const soError = Buffer.alloc(4);

/** Throw the error a finished non-blocking connect left on the socket, if any. */
function checkConnected(fd: number, path?: string): void {
  getsockopt(fd, SOL_SOCKET, SO_ERROR, soError);
  const e = soError.readInt32LE(0);
  if (e) throw errnoError(e, 'connect', path);
}

function timedOut(ms: number, path?: string): Error {
  return csError('ETIMEDOUT', 'connect', path, `no answer within ${ms} ms`);
}

/** Connect a new socket to `ep`, blocking this thread at most until `deadline` (ms since the epoch). */
export function connectSync(proto: NetProto, ep: Endpoint, deadline: number, ms: number, path?: string): number {
  const fd = netSocket(proto, ep.address);
  try {
    if (!connect(fd, sockaddr(ep), path)) {
      if (!waitSync(fd, 'w', Math.max(0, deadline - Date.now()), 'connect', path)) throw timedOut(ms, path);
      checkConnected(fd, path);
    }
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** Connect a new socket to `ep` without blocking the event loop, at most until `deadline`. */
export async function connectAsync(
  proto: NetProto, ep: Endpoint, deadline: number, ms: number, signal?: AbortSignal, path?: string,
): Promise<{ fd: number; watcher: Watcher }> {
  const fd = netSocket(proto, ep.address);
  const watcher = new Watcher(fd);
  try {
    if (!connect(fd, sockaddr(ep), path)) {
      await ready(watcher, 'w', signal, Math.max(0, deadline - Date.now()), 'connect', path).catch((e) => {
        throw (e as { code?: string }).code === 'ETIMEDOUT' ? timedOut(ms, path) : e;
      });
      checkConnected(fd, path);
    }
    return { fd, watcher };
  } catch (e) {
    watcher.close();
    close(fd);
    throw e;
  }
}
