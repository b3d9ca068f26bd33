// Streams to AF_UNIX sockets outside the namespace, named `unix:<socket path>` (the name
// cspath and Connection.path give such streams): a plain connected stream, or with the
// cs rendezvous when a cs or libcs server listens there (one started by systemd on
// /run/<app>.sock, say); and a cs listener bound at such a path. Records, and so
// descriptors, pass on either.
import { statSync } from 'node:fs';
import {
  abortError, bind, close, connect, csError, listen, unixAddr, Watcher, UNIX_PATH_MAX, type CsError,
} from '../sys';
import { driveAsync, driveSync, handshakeTimeout } from '../io';
import { BACKLOG } from '../stream/flags';
import { clientRendezvous, withUnixSocket } from '../stream/handshake';
import { kernelId } from '../stream/record';
import { remember } from '../stream/registry';
import type * as ConnectionM from '../stream/connection';

// open() only: csopen of any path never loads Connection (nor node:stream)
const connection = (): typeof ConnectionM => require('../stream/connection');

const PREFIX = 'unix:';

/** A path that names a socket outside the namespace. */
export function isUnixPath(path: string): boolean {
  return path.startsWith(PREFIX);
}

/** A connect failure in Node's shape (`address` as net.connect gives it) with the cs path. */
function connectError(code: string, path: string, address: string, detail?: string): CsError {
  return Object.assign(csError(code, 'connect', path, detail), { address });
}

/** The socket path of `path`: EINVAL when there is none, ENAMETOOLONG past sun_path. */
function addressOf(path: string, syscall: string): string {
  const address = path.slice(PREFIX.length);
  if (address === '') throw csError('EINVAL', syscall, path, 'no socket path after unix:');
  if (Buffer.byteLength(address) > UNIX_PATH_MAX) throw csError('ENAMETOOLONG', syscall, path, `socket path is over ${UNIX_PATH_MAX} bytes`);
  return address;
}

/**
 * A non-blocking stream connected to the socket `path` names, with SO_PASSCRED before
 * it connects (so the greeting and every record name their sender). ENOENT: no such
 * file; ECONNREFUSED: a socket nobody listens on; ENOTSOCK: a file that is not a socket.
 */
function connectTo(path: string, syscall: string): number {
  const address = addressOf(path, syscall);
  try {
    return withUnixSocket((fd) => {
      // an AF_UNIX connect completes or fails at once; EAGAIN only when the backlog is full
      if (!connect(fd, unixAddr(address), path)) throw connectError('EAGAIN', path, address, 'the listen backlog is full');
    });
  } catch (e) {
    const err = e as CsError;
    // connect(2) says ECONNREFUSED for a file that is not a socket: say what it is
    if (err.code === 'ECONNREFUSED' && !isSocket(address)) throw connectError('ENOTSOCK', path, address, `${address} is not a socket`);
    if (err.syscall === 'connect') (err as CsError & { address: string }).address = address;
    throw err;
  }
}

function isSocket(address: string): boolean {
  try {
    return statSync(address).isSocket();
  } catch {
    return true; // gone meanwhile: the kernel's answer stands
  }
}

/** csopen of a `unix:` path: the connected non-blocking fd, remembered with its peer. */
export function openUnixSync(path: string, greet: boolean): number {
  const fd = connectTo(path, 'csopen');
  try {
    const g = greet ? driveSync(clientRendezvous(fd, path), fd, handshakeTimeout(), 'csopen', path) : null;
    remember(fd, path, undefined, g ? g.server : kernelId(fd), g?.cs);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** open() of a `unix:` path. */
export async function openUnix(path: string, greet: boolean, signal?: AbortSignal): Promise<ConnectionM.Connection> {
  if (signal?.aborted) throw abortError(signal);
  const fd = connectTo(path, 'open');
  const watcher = new Watcher(fd);
  try {
    const g = greet ? await driveAsync(clientRendezvous(fd, path), watcher, handshakeTimeout(), 'open', path, signal) : null;
    return new (connection().Connection)(fd, path, watcher, g ? g.server : kernelId(fd), g?.cs);
  } catch (e) {
    watcher.close();
    close(fd);
    throw e;
  }
}

/**
 * A non-blocking cs listener bound at the socket `path` names (csopen CS_OPEN_CREATE,
 * listen): csrecv and Listener accept on it with the rendezvous. An existing file
 * there is EADDRINUSE: outside the namespace cs removes nothing.
 */
export function listenUnix(path: string, syscall: string): number {
  const address = addressOf(path, syscall);
  return withUnixSocket((fd) => {
    bind(fd, unixAddr(address), path);
    listen(fd, BACKLOG, path);
    remember(fd, path);
  });
}
