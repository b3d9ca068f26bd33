// What this process knows about its open cs streams: the cs path each fd serves
// (for cspath), for listeners the access rule to enforce, and for clients the
// server that greeted them. Entries are keyed by fd. lookup() checks an entry
// against the socket's kernel cookie (one getsockopt), so a closed and reused fd
// number is not mistaken; the per-record calls use recordEntry(), which trusts a
// stream that has carried a record, and check again only when the kernel's answer
// gives cause (see cssend/csrecv). csclose forgets an entry at once, and a record
// that brings descriptors forgets their numbers.
import { socketCookie } from '../sys';
import type { MountDir } from '../namespace';
import type { CsId } from './flags';

export interface StreamInfo {
  path: string;
  cookie: number;
  /** Listeners: the mount directory, whose uid/gid rules apply to every peer. */
  md?: MountDir;
  /** Whether the socket listens, once asked: a socket's role never changes. */
  listening?: boolean;
  /**
   * Connected streams: who is at the other end, for a client the process that wrote
   * the greeting, else the kernel's SO_PEERCRED/SO_PEERGROUPS, asked once.
   */
  peer?: CsId;
  /** Connected streams: the peer speaks cs (its greeting or a record said so), so records to it go in the cs form. */
  csPeer?: boolean;
  /** Connected streams: receives left that poll before trying (a peer that answers slower than we ask). */
  waitFirst: number;
}

const streams = new Map<number, StreamInfo>();

/** `owned`: an object that closes the fd itself (a Connection) and forgets the entry then, so it is never stale. */
export function remember(fd: number, path: string, md?: MountDir, peer?: CsId, csPeer = false, owned = false): void {
  streams.set(fd, { path, cookie: owned ? OWNED : socketCookie(fd), md, peer, csPeer, waitFirst: 0 });
}

const OWNED = -1;

/**
 * The entry for the per-record calls: a stream that has carried a record (so known not
 * to listen) is taken on trust, and may describe a socket since closed outside csclose;
 * any other entry is checked (an accept costs far more than one getsockopt).
 */
export function recordEntry(fd: number): StreamInfo | undefined {
  const s = streams.get(fd);
  return s && s.listening !== false ? lookup(fd) : s;
}

/** Whether `s`, remembered for `fd`, still describes the socket open as `fd` (forgotten if not). */
export function current(fd: number, s: StreamInfo): boolean {
  return lookup(fd) === s;
}

/** The entry for `fd`, checked against the socket's cookie. */
export function lookup(fd: number): StreamInfo | undefined {
  const s = streams.get(fd);
  if (s && (s.cookie === OWNED || (s.cookie > 0 && s.cookie === socketCookie(fd)))) return s;
  if (s) streams.delete(fd);
  return undefined;
}

export function forget(fd: number): void {
  streams.delete(fd);
}

/** Descriptors that just arrived from a peer: their numbers name new files now. */
export function forgetAll(fds: readonly number[]): void {
  if (streams.size === 0) return;
  for (const fd of fds) streams.delete(fd);
}
