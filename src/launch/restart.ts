// Replacing a running server by a new one without refusing or dropping a client
// (`cs restart`). The new server gets the very listening socket the old one serves:
// it is copied out of the old process with pidfd_getfd(2), which the kernel allows
// only to the process's owner or root, and handed over as auto-start hands one (the
// launch entry, fd 3, LISTEN_FDS), with P-cs.mnt recorded under X-cs.mnt. Once the
// new server reports READY=1 (sd_notify) the old one gets DRAIN_SIGNAL: it stops
// accepting, finishes its clients and exits, leaving the socket file and the record
// alone. S-cs.mnt is never unlinked or rebound: a client queued in the backlog at any
// moment is accepted by one server or the other.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as C, lchownSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import {
  bind, close, csError, flock, flockAsync, getsockoptInt, localInet, passCred, pidfdGetfd, pidfdOpen, pidfdSendSignal, recvFds, socket, unixPeerAddr,
  AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_ACCEPTCONN, SO_DOMAIN, SO_TYPE, LOCK_EX, LOCK_NB, Watcher, type CsError,
} from '../sys';
import { waitSync, handshakeTimeout } from '../io';
import { checkMountDir, lock, processInfo, recordedPid, recordPid, type MountDir } from '../namespace';
import { readRecord } from '../net/record';
import { drainPeriod, DRAIN_SIGNAL } from './lifetime';
import { withLogTail } from './log';
import { boundToService } from './serve';
import { resolveService, type Service } from './service';
import { runningServer, serverGroup } from './signal';
import { spawnServer, type ServerUser } from './spawn';

/** How long past its drain deadline an old server may take to exit before it is killed. */
const EXIT_GRACE_MS = 1000;

export interface Restarted {
  path: string;
  /** The server that was replaced, and the one that serves now. */
  oldPid: number;
  newPid: number;
  /** False when the old server did not exit within the drain deadline and was killed. */
  drained: boolean;
}

const SIG = constants.signals;

/** True when `fd` (a descriptor copied from the old server) is the listening socket of `s`. */
function servesService(fd: number, s: Service): boolean {
  if (getsockoptInt(fd, SOL_SOCKET, SO_TYPE) !== SOCK_STREAM || getsockoptInt(fd, SOL_SOCKET, SO_ACCEPTCONN) !== 1) return false;
  const domain = getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
  if (s.path.proto === 'fdp') return domain === AF_UNIX && boundToService(fd, s.md);
  const ep = readRecord(s.md, s.path.proto);
  return (domain === AF_INET || domain === AF_INET6) && ep !== null && localInet(fd).port === ep.port;
}

/** A copy of the old server's listening socket, found among its sockets (/proc/<pid>/fd). */
function copyListener(pidfd: number, pid: number, s: Service): number {
  const path = s.path.canonical;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (e) {
    throw csError((e as CsError).code === 'EACCES' ? 'EPERM' : (e as CsError).code, 'restart', path, `cannot read the descriptors of server pid ${pid}`);
  }
  for (const name of fds) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${name}`);
    } catch {
      continue; // closed meanwhile
    }
    if (!target.startsWith('socket:')) continue;
    let fd: number;
    try {
      fd = pidfdGetfd(pidfd, Number(name), path);
    } catch (e) {
      if ((e as CsError).code === 'EBADF') continue;
      throw csError((e as CsError).code, 'pidfd_getfd', path, `the kernel refuses a copy of server pid ${pid}'s socket: only its owner or root may restart it`);
    }
    if (servesService(fd, s)) return fd;
    close(fd);
  }
  throw csError('ENOTSOCK', 'restart', path, `server pid ${pid} holds no socket listening for ${path}`);
}

/** Only the owner of the server or root may replace it (the kernel checks again when the socket is copied). */
function checkPermitted(pid: number, path: string): ServerUser | undefined {
  const info = processInfo(pid);
  if (info === null) throw csError('ESRCH', 'restart', path, `server pid ${pid} exited`);
  const me = process.geteuid!();
  if (me === info.uid) return undefined;
  if (me !== 0) throw csError('EPERM', 'restart', path, `server pid ${pid} runs as uid ${info.uid}: only its owner or root may restart it`);
  return { uid: info.uid, gid: info.gid };
}

/** The datagram socket the new server reports READY=1 to ($NOTIFY_SOCKET, an abstract name), with senders' credentials. */
function notifySocket(): { fd: number; name: string } {
  const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK);
  const name = `@cs-restart/${process.pid}/${randomBytes(8).toString('hex')}`;
  try {
    bind(fd, unixPeerAddr(name), name);
    passCred(fd);
  } catch (e) {
    close(fd);
    throw e;
  }
  return { fd, name };
}

const note = Buffer.alloc(4096);

/** True once process `pid` itself (by the kernel's credentials) sent READY=1; other datagrams are read and dropped. */
function readyReported(fd: number, pid: number): boolean {
  for (;;) {
    const r = recvFds(fd, note, 0);
    if (r.n < 0) return false;
    if (r.cred?.pid === pid && note.toString('utf8', 0, r.n).split('\n').includes('READY=1')) return true;
  }
}

/** Resolve after `ms`, or as soon as one of `watchers` is readable. */
function readableOrLate(watchers: Watcher[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const go = () => {
      clearTimeout(timer);
      for (const w of watchers) w.cancel(go);
      resolve();
    };
    const timer = setTimeout(go, ms);
    for (const w of watchers) w.onReadable(go);
  });
}

/** Wait at most `ms` for the new server's READY=1; 'exited' when it died first. */
async function untilReady(notifyFd: number, pidfd: number, pid: number, ms: number): Promise<'ready' | 'exited' | 'late'> {
  const deadline = Date.now() + ms;
  const watchers = [new Watcher(notifyFd), new Watcher(pidfd)];
  try {
    for (;;) {
      if (readyReported(notifyFd, pid)) return 'ready';
      if (waitSync(pidfd, 'r', 0)) return 'exited';
      const left = deadline - Date.now();
      if (left <= 0) return 'late';
      await readableOrLate(watchers, left);
    }
  } finally {
    for (const w of watchers) w.close();
  }
}

/** Wait at most `ms` for the process behind `pidfd` to exit; true if it did. */
async function exited(pidfd: number, ms: number): Promise<boolean> {
  if (waitSync(pidfd, 'r', 0)) return true;
  const w = new Watcher(pidfd);
  try {
    await readableOrLate([w], ms);
  } finally {
    w.close();
  }
  return waitSync(pidfd, 'r', 0);
}

/** Kill `pid` and the process group it leads (a server cs started leads one). */
function killServer(pidfd: number, pid: number): void {
  try {
    const group = serverGroup(pid);
    if (group !== null) process.kill(group, 'SIGKILL');
    else pidfdSendSignal(pidfd, SIG.SIGKILL);
  } catch {
    // gone already
  }
}

/** A new server that never became ready: stop it and give P-cs.mnt back to the old one, which never stopped serving. */
async function abandon(md: MountDir, pidfd: number, pid: number, oldPid: number): Promise<void> {
  killServer(pidfd, pid);
  const held = await lock(md);
  try {
    if (recordedPid(md) === pid) recordPid(md, oldPid);
  } finally {
    held.release();
  }
}

/**
 * Restarts of one service run one after another: each holds a lock on the perm
 * directory itself for its whole run (X-cs.mnt is held only around the start, so
 * clients that auto-start never wait for a drain). Returns the release.
 */
async function lockRestarts(md: MountDir): Promise<() => void> {
  const fd = openSync(md.dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    if (!flock(fd, LOCK_EX | LOCK_NB, md.path)) await flockAsync(fd, LOCK_EX, md.path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return () => closeSync(fd);
}

/**
 * Start the new server of `s` on `listenFd` and record it, with X-cs.mnt held; its pid
 * and a pidfd for it (opened before the event loop runs again, so before a death of
 * the child could be reaped).
 */
function startReplacement(s: Service, listenFd: number, notifyName: string, runAs: ServerUser | undefined): { pid: number; pidfd: number } {
  const pid = spawnServer(s, listenFd, { NOTIFY_SOCKET: notifyName }, runAs);
  recordPid(s.md, pid);
  if (runAs) lchownSync(s.md.pidLink, runAs.uid, runAs.gid);
  return { pid, pidfd: pidfdOpen(pid, s.path.canonical) };
}

/**
 * Replace the running server of `path` by a new one started from its launch entry,
 * without refusing or dropping a client (see the module comment). Resolves once the
 * old server exited: by itself within `drainMs` (default $CS_DRAIN_MS, else 30 s),
 * else it is killed then.
 */
export async function restartService(path: string, drainMs?: number): Promise<Restarted> {
  const s = resolveService(path, 'restart');
  const where = s.path.canonical;
  if (s.path.proto === 'udp') throw csError('EOPNOTSUPP', 'restart', where, 'a udp service has no listening socket to hand over');
  if (!s.entry) throw csError('ENOENT', 'restart', where, 'no launch entry: a restart starts the new server from it');
  if (s.entry.svc) throw csError('EOPNOTSUPP', 'restart', where, `${s.entry.server} is a libcs .svc server, which makes its own socket instead of taking one over`);
  // nothing to lock where the service never ran
  if (!checkMountDir(s.md)) throw csError('ESRCH', 'restart', where, `no server is recorded in ${s.md.pidLink}`);
  const unlock = await lockRestarts(s.md);
  const fds: number[] = [];
  try {
    const notify = notifySocket();
    fds.push(notify.fd);
    let oldPid: number;
    let oldPidfd: number;
    let started: { pid: number; pidfd: number };
    const held = await lock(s.md);
    try {
      oldPid = runningServer(s.md, 'restart');
      const runAs = checkPermitted(oldPid, where);
      fds.push((oldPidfd = pidfdOpen(oldPid, where)));
      const listenFd = copyListener(oldPidfd, oldPid, s);
      fds.push(listenFd);
      started = startReplacement(s, listenFd, notify.name, runAs);
      fds.push(started.pidfd);
    } finally {
      // released before the new server starts serving: serve() takes the lock to read the record
      held.release();
    }
    const ms = handshakeTimeout();
    const { pid: newPid, pidfd: newPidfd } = started;
    const state = await untilReady(notify.fd, newPidfd, newPid, ms);
    if (state !== 'ready') {
      await abandon(s.md, newPidfd, newPid, oldPid);
      const why = state === 'exited' ? 'exited before it was ready' : `did not report READY=1 (sd_notify) within ${ms} ms`;
      const err = csError(state === 'exited' ? 'ECONNRESET' : 'ETIMEDOUT', 'restart', where, `the new server (pid ${newPid}) ${why}; server pid ${oldPid} goes on serving`);
      throw withLogTail(err, s.md);
    }
    pidfdSendSignal(oldPidfd, SIG[DRAIN_SIGNAL], where);
    const drained = await exited(oldPidfd, drainPeriod(drainMs) + EXIT_GRACE_MS);
    if (!drained) {
      killServer(oldPidfd, oldPid);
      await exited(oldPidfd, EXIT_GRACE_MS);
    }
    return { path: where, oldPid, newPid, drained };
  } finally {
    for (const fd of fds) close(fd);
    unlock();
  }
}
