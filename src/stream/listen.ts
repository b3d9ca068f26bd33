// Server side: create a service's listening socket in the namespace (taking over
// a stale one only when its server is dead) and accept connections with the
// rendezvous and the kernel-checked access rules.
import { chmodSync, lchownSync, lstatSync } from 'node:fs';
import { bind, close, csError, listen, passCred, unixAddr, type CsError } from '../sys';
import { acceptPending, AGAIN, handOver, handshakeTimeout, runSync } from '../io';
import {
  createMountDir, lockSync, ownerName, recordDoubt, recordedPid, recordPid, removeIfPresent, socketMode, trustedServer, type MountDir,
} from '../namespace';
import { BACKLOG, type CsId } from './flags';
import { admission, connectUnix, withServiceSocket, writeGreeting, CS_GREETING } from './handshake';
import { kernelId, tryRecvRecord, type RecordIn } from './record';
import { remember } from './registry';
import { readArgs } from './args';

/** Who made the socket listening on `md`'s S-cs.mnt, by the kernel (SO_PEERCRED); null when nobody answers. */
export function listenerOf(md: MountDir): CsId | null {
  let probe: number;
  try {
    probe = connectUnix(md);
  } catch (e) {
    const code = (e as CsError).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return null;
    throw e;
  }
  try {
    return kernelId(probe);
  } finally {
    close(probe);
  }
}

/**
 * Make way for binding S-cs.mnt: remove a stale socket (nobody answers), and one
 * served by a user who may not serve this service when we are root; throw EACCES
 * for such a socket otherwise, and EADDRINUSE when the service's server answers.
 */
function clearStale(md: MountDir): void {
  try {
    lstatSync(md.socket);
  } catch {
    return;
  }
  const listener = listenerOf(md);
  if (listener !== null && !trustedServer(md, listener)) {
    if (process.geteuid!() !== 0) {
      throw csError('EACCES', 'csopen', md.path, `${md.socket} is served by ${ownerName(listener.uid)}, who may not serve this service for you`);
    }
  } else if (listener !== null) {
    const pid = recordedPid(md);
    const why = pid !== null && recordDoubt(md, pid, listener) === null ? `already served by pid ${pid}` : 'a server without a pid record is answering';
    throw csError('EADDRINUSE', 'csopen', md.path, why);
  }
  removeIfPresent(md.socket);
}

/** Bind S-cs.mnt (through the directory's fd when the path is too long) and listen. */
function bindUnix(md: MountDir): number {
  return withServiceSocket(md, (fd, target) => {
    bind(fd, unixAddr(target), md.path);
    chmodSync(target, socketMode(md)); // as libcs: the perm directory and the server decide access too
    // root serving another's user or group service: its socket belongs to them, like the directory
    if ((md.uid !== null || md.gid !== null) && process.geteuid!() === 0) lchownSync(target, md.uid ?? -1, md.gid ?? -1);
    listen(fd, BACKLOG, md.path);
  });
}

/** Bind the service's socket in place of a stale one; the caller holds the X-cs.mnt lock. */
export function bindService(md: MountDir): number {
  clearStale(md);
  return bindUnix(md);
}

/** Create the (non-blocking) listening stream of the fdp service at `md`; the caller owns the returned fd. */
export function createUnixService(md: MountDir): number {
  createMountDir(md);
  const lock = lockSync(md);
  try {
    const fd = bindService(md);
    recordPid(md, process.pid);
    remember(fd, md.path, md);
    return fd;
  } finally {
    lock.release();
  }
}

/**
 * Server half of the rendezvous on an accepted fd: check the peer's kernel
 * identity, greet, read its id record. Returns the identity, or AGAIN for the
 * record. Refused peers get the errno as greeting and an error is thrown.
 */
export function greet(fd: number, md: MountDir | undefined, path: string): CsId {
  // before the greeting, so the id record that answers it carries its sender's
  // credentials even when the listener came from elsewhere (LISTEN_FDS)
  passCred(fd);
  const id = kernelId(fd);
  const refuse = admission(md, id);
  writeGreeting(fd, refuse || CS_GREETING, path);
  if (refuse) throw csError('EACCES', 'csrecv', path, `peer uid ${id.uid} gid ${id.gid} is not admitted`);
  return id;
}

/**
 * Server: read the client's id record (`id` is the connection's); its `cs` says whether the
 * client speaks cs, `args` is its `/#` argument (the descriptor that carried it is closed).
 */
export function tryFinishAccept(fd: number, id: CsId, path: string): (RecordIn & { args: string[] | null }) | typeof AGAIN {
  const r = tryRecvRecord(fd, 1, path, () => id);
  return r === AGAIN ? AGAIN : { ...r, fds: [], args: readArgs(r.fds, path) };
}

/**
 * csrecv on a listening stream: accept a client and do the rendezvous on the
 * non-blocking new stream within $CS_TIMEOUT_MS (a silent client costs the caller
 * that long, then ETIMEDOUT); the caller gets the stream blocking.
 */
export function acceptSync(listenFd: number, md: MountDir | undefined, path: string): { id: CsId; fd: number; args: string[] | null } {
  const fd = acceptPending(listenFd, 'csrecv', path);
  try {
    const id = greet(fd, md, path);
    const r = runSync(fd, 'r', handshakeTimeout(), () => tryFinishAccept(fd, id, path), 'csrecv', path);
    remember(fd, path, undefined, id, r.cs);
    return { id, fd: handOver(fd), args: r.args };
  } catch (e) {
    close(fd);
    throw e as CsError;
  }
}
