// What this process knows about its open cs streams: the cs path each fd serves
// (for cspath), for listeners the access rule to enforce, and for clients the
// server that greeted them. Entries are keyed by fd and checked against the
// socket's kernel cookie (one getsockopt), so a closed and reused fd number is not
// mistaken; csclose forgets an entry at once.
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
}

const streams = new Map<number, StreamInfo>();

export function remember(fd: number, path: string, md?: MountDir, peer?: CsId, csPeer = false): void {
  streams.set(fd, { path, cookie: socketCookie(fd), md, peer, csPeer });
}

export function lookup(fd: number): StreamInfo | undefined {
  const s = streams.get(fd);
  if (s && s.cookie > 0 && s.cookie === socketCookie(fd)) return s;
  if (s) streams.delete(fd);
  return undefined;
}

export function forget(fd: number): void {
  streams.delete(fd);
}
