// What this process knows about its open cs streams: the cs path each fd serves
// (for cspath) and, for listeners, the access rule to enforce. Entries are keyed
// by fd and checked against the inode, so a closed and reused fd number is not mistaken.
import { fstatSync } from 'node:fs';
import type { MountDir } from '../namespace';

export interface StreamInfo {
  path: string;
  ino: number;
  /** Listeners: the mount directory, whose uid/gid rules apply to every peer. */
  md?: MountDir;
}

const streams = new Map<number, StreamInfo>();

function inode(fd: number): number {
  try {
    return fstatSync(fd).ino;
  } catch {
    return -1;
  }
}

export function remember(fd: number, path: string, md?: MountDir): void {
  streams.set(fd, { path, ino: inode(fd), md });
}

export function lookup(fd: number): StreamInfo | undefined {
  const s = streams.get(fd);
  if (s && s.ino === inode(fd)) return s;
  if (s) streams.delete(fd);
  return undefined;
}

export function forget(fd: number): void {
  streams.delete(fd);
}
