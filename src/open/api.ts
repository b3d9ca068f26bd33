// The C-shaped synchronous API of cs.3: csopen, csrecv, cssend, cspoll, cspath.
// Same names and meaning as libcs; errors are thrown instead of returning -1.
import { close, csError, getsockoptInt, passCred, poll, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, SOL_SOCKET, SO_ACCEPTCONN, type CsError } from '../sys';
import { AGAIN, deadlineIn, handOver, handshakeTimeout, msLeft, runSync } from '../io';
import { CS_OPEN_CREATE, CS_OPEN_RENDEZVOUS, type CsId } from '../stream/flags';
import { acceptSync } from '../stream/listen';
import { kernelId, trySendRecord, tryRecvRecord, type PeerOf, type RecordIn } from '../stream/record';
import { unixStreamPath } from '../stream/attach';
import { current, forget, lookup, recordEntry, type StreamInfo } from '../stream/registry';
import type * as NetPath from '../net/netpath';
import type * as NetServer from '../net/server';
import type * as NetOpen from '../net/open';
import { createListener } from '../launch/create';
import { isNetPath } from '../path';
import { resolveService } from '../launch/service';
import { notRunning, notRunningError, openSync } from './connect';
import { isUnixPath, listenUnix, openUnixSync } from './unix';
import type * as Start from './start';
import { checkOpenOptions, withFlags } from './options';

// tcp/udp streams only: the fdp paths never load the net layer
const netPath = (): typeof NetPath => require('../net/netpath');
const netServer = (): typeof NetServer => require('../net/server');
const netOpen = (): typeof NetOpen => require('../net/open');
// only when nobody answers: opening a running service never loads auto-start
const start = (): typeof Start => require('./start');

function isListening(fd: number): boolean {
  return getsockoptInt(fd, SOL_SOCKET, SO_ACCEPTCONN) !== 0;
}

function checkFd(fd: unknown, syscall: string): asserts fd is number {
  if (!Number.isInteger(fd) || (fd as number) < 0) {
    throw Object.assign(new TypeError(`${syscall}: fd must be a non-negative integer, got ${String(fd)}`), { code: 'ERR_INVALID_ARG_TYPE' });
  }
}

/**
 * Open a connection to the service `path` (blocking), starting its server from its
 * launch entry when none answers (not with the `test` option or CS_OPEN_TEST); with
 * CS_OPEN_CREATE, create the service's listening stream instead. Returns the stream's
 * fd, which the caller owns, in blocking mode (a listener too). tcp/udp paths (SPEC 2)
 * give a tcp stream or a connected udp socket, and with CS_OPEN_CREATE a tcp listener
 * or a bound udp socket. A `unix:<socket path>` is that socket outside the namespace:
 * connected plainly, or with the rendezvous under CS_OPEN_RENDEZVOUS; with CS_OPEN_CREATE bound there.
 */
export function csopen(path: string, flags = 0): number {
  if (isUnixPath(path)) return handOver(flags & CS_OPEN_CREATE ? listenUnix(path, 'csopen') : openUnixSync(path, (flags & CS_OPEN_RENDEZVOUS) !== 0));
  if (flags & CS_OPEN_CREATE) return handOver(createListener(resolveService(withFlags(path, flags))));
  return openResolved(path, flags, true);
}

function openResolved(path: string, flags: number, reuseMiss: boolean): number {
  const s = resolveService(withFlags(path, flags), 'csopen', reuseMiss);
  checkOpenOptions(s.path, 'csopen');
  let fd: number;
  try {
    if (s.path.options.now) return netOpen().netConnectNow(s.path);
    fd = openSync(s);
  } catch (e) {
    if (!notRunning(e)) throw e;
    if (s.guessed) return openResolved(path, flags, false); // an entry installed since may name another mount directory
    if (!start().mayStart(s, flags)) throw notRunningError(s, e as CsError);
    fd = start().openStartingSync(s);
  }
  return handOver(fd);
}

/** True for a tcp/udp descriptor, by what csopen recorded about it or else by asking the kernel. */
function isNetFd(fd: number, path: string | undefined): boolean {
  return path === undefined ? netPath().isInetSocket(fd) : isNetPath(path);
}

/** cssend/csrecv records carry descriptors, which only fdp (AF_UNIX) streams can pass. */
function noRecords(syscall: string, fd: number, path: string | undefined): CsError {
  return csError('EOPNOTSUPP', syscall, path, `fd ${fd} is a tcp/udp stream: descriptors pass only on fdp streams`);
}

/**
 * On a listening stream: accept one client and complete the rendezvous; `fds` is
 * [the new stream] and `args` the client's `/#` argument split at `/#` (null: none). On a connected stream: receive one cssend record with at most
 * `max` descriptors. `id` is the peer's identity as the kernel reports it. Waiting
 * for a client (EAGAIN at once on a non-blocking listener) or a record lasts until
 * one comes; the rendezvous is bounded by $CS_TIMEOUT_MS. A handled signal throws EINTR.
 */
export function csrecv(fd: number, max = 1): { id: CsId; fds: number[]; args?: string[] | null } {
  checkFd(fd, 'csrecv');
  const info = recordEntry(fd);
  const path = info?.path;
  const net = isNetFd(fd, path);
  if (info ? (info.listening ??= isListening(fd)) : isListening(fd)) {
    if (net) {
      const r = netServer().netAccept(fd);
      return { id: r.id, fds: [r.fd] };
    }
    const r = acceptSync(fd, info?.md, path ?? `fd ${fd}`);
    return { id: r.id, fds: [r.fd], args: r.args };
  }
  if (net) throw noRecords('csrecv', fd, path);
  // streams cs made have it from birth; another may lack it: records then name their sender from now on
  if (!info) passCred(fd);
  let r: RecordIn;
  try {
    r = recvRecordSync(fd, max, info);
  } catch (e) {
    if (stale(fd, info, e)) return csrecv(fd, max);
    throw e;
  }
  if (r.cs && info) info.csPeer = true;
  return { id: r.id, fds: r.fds };
}

/** Errors of a record's sendmsg/recvmsg that a descriptor number reused by another kind of file gives. */
const MISUSED = new Set(['EBADF', 'ENOTSOCK', 'ENOTCONN', 'EINVAL', 'EOPNOTSUPP']);

/** `e` may come of an unchecked entry for a closed and reused `fd`: so it does if the socket's cookie differs (the entry is then forgotten). */
function stale(fd: number, info: StreamInfo | undefined, e: unknown): boolean {
  return info !== undefined && MISUSED.has((e as CsError).code) && !current(fd, info);
}

/** After a receive had to wait, the next ones wait first for this many calls (one poll, not a failed recvmsg and a poll). */
const WAIT_FIRST = 32;

/**
 * Receive one record on a connected stream, as long as it takes. A stream whose last
 * receive had to wait polls first. Identity: the kernel's credentials on the record,
 * with the groups the connection's SO_PEERGROUPS gave (asked once); a record without
 * credentials comes from a socket cs did not make, whose entry is checked before use.
 */
function recvRecordSync(fd: number, max: number, info: StreamInfo | undefined): RecordIn {
  const path = info?.path;
  const peer: PeerOf = (uncredited) => {
    if (info && uncredited && !current(fd, info)) {
      passCred(fd);
      info = undefined;
    }
    return info ? (info.peer ??= kernelId(fd)) : kernelId(fd);
  };
  const step = () => tryRecvRecord(fd, max, path, peer);
  if (info && info.waitFirst > 0) info.waitFirst--;
  else {
    const r = step();
    if (r !== AGAIN) return r;
    if (info) info.waitFirst = WAIT_FIRST;
  }
  return runSync(fd, 'r', -1, step, 'csrecv', path, true);
}

/**
 * Send descriptors (and the sender's id record) on a connected stream. While the
 * peer's buffer is full it waits at most $CS_TIMEOUT_MS (ETIMEDOUT); a handled signal throws EINTR.
 */
export function cssend(fd: number, fds: number[]): void {
  checkFd(fd, 'cssend');
  const info = recordEntry(fd);
  const path = info?.path;
  if (isNetFd(fd, path)) throw noRecords('cssend', fd, path);
  // descriptors mark a record among the bytes, so a record without any keeps the libcs form
  const cs = info?.csPeer === true && fds.length > 0;
  try {
    runSync(fd, 'w', handshakeTimeout, () => trySendRecord(fd, fds, path, cs), 'cssend', path);
  } catch (e) {
    if (stale(fd, info, e)) return cssend(fd, fds);
    throw e;
  }
  if (info) info.listening = false;
}

export interface PollRequest {
  fd: number;
  events: 'r' | 'w' | 'rw';
}

export interface PollReady {
  fd: number;
  readable: boolean;
  writable: boolean;
}

/**
 * Wait up to `timeoutMs` (-1: forever) until some streams are readable (data, a
 * record, a pending connection, or end of stream) or writable; returns the ready ones.
 * A handled signal ends the wait with EINTR.
 */
export function cspoll(list: PollRequest[], timeoutMs: number): PollReady[] {
  if (!Array.isArray(list)) throw Object.assign(new TypeError('cspoll: list must be an array'), { code: 'ERR_INVALID_ARG_TYPE' });
  const pfds = new Int32Array(2 * list.length);
  list.forEach((r, i) => {
    checkFd(r.fd, 'cspoll');
    if (r.events !== 'r' && r.events !== 'w' && r.events !== 'rw') throw csError('EINVAL', 'cspoll', undefined, `events must be 'r', 'w' or 'rw', got '${r.events}'`);
    pfds[2 * i] = r.fd;
    pfds[2 * i + 1] = (r.events.includes('r') ? POLLIN : 0) | (r.events.includes('w') ? POLLOUT : 0);
  });
  const deadline = deadlineIn(timeoutMs);
  let n = 0;
  do {
    n = poll(pfds, list.length, msLeft(deadline), 'cspoll');
  } while (n === 0 && Date.now() < deadline);
  const ready: PollReady[] = [];
  for (let i = 0; i < list.length && n > 0; i++) {
    const rev = pfds[2 * i + 1] >>> 16;
    if (rev & POLLNVAL) throw csError('EBADF', 'cspoll', undefined, `fd ${list[i].fd} is not open`);
    if (!rev) continue;
    const failed = (rev & (POLLERR | POLLHUP)) !== 0;
    ready.push({ fd: list[i].fd, readable: (rev & POLLIN) !== 0 || failed, writable: (rev & POLLOUT) !== 0 || (failed && list[i].events !== 'r') });
  }
  return ready;
}

/** The canonical cs path of an open stream (the service it connects to or serves). */
export function cspath(fd: number): string {
  checkFd(fd, 'cspath');
  const info = lookup(fd);
  if (info) return info.path;
  // a stream cs did not open or accept here (inherited, received): named by its socket's address
  const path = unixStreamPath(fd, 'cspath');
  if (path.startsWith('unix:')) throw csError('EINVAL', 'cspath', undefined, `fd ${fd} is an AF_UNIX stream outside the cs namespace (${path})`);
  return path;
}

/** Close a stream and forget what cspath knew about it. */
export function csclose(fd: number): void {
  checkFd(fd, 'csclose');
  forget(fd);
  close(fd);
}
