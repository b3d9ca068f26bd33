// The X-cs.mnt lock (flock) that serialises creating or starting a service.
import { closeSync, constants as C, fstatSync, lstatSync, openSync, type Stats } from 'node:fs';
import { csError, flock, flockAsync, LOCK_EX, LOCK_NB, LOCK_UN, type CsError } from '../sys';
import type { MountDir } from './mount';

export interface Lock {
  release(): void;
}

/** What a file that is not a regular one is, for the error that refuses it. */
function kind(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function notALockFile(md: MountDir, st: Stats): CsError {
  return csError('EINVAL', 'open', md.lock, `the service's lock file is ${kind(st)}, not a regular file; remove it`);
}

/**
 * Open (creating) the lock file. Anything planted there but a regular file is
 * refused before it is opened, and the open neither follows a link nor waits on a FIFO.
 */
function openLockFile(md: MountDir): number {
  try {
    const st = lstatSync(md.lock);
    if (!st.isFile()) throw notALockFile(md, st);
  } catch (e) {
    if ((e as CsError).code !== 'ENOENT') throw e;
  }
  const fd = openSync(md.lock, C.O_RDONLY | C.O_CREAT | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY, 0o666);
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw notALockFile(md, st);
  }
  return fd;
}

function holding(fd: number): Lock {
  return {
    release() {
      flock(fd, LOCK_UN);
      closeSync(fd);
    },
  };
}

/** Take the service's lock, blocking this thread while another process holds it. */
export function lockSync(md: MountDir): Lock {
  const fd = openLockFile(md);
  try {
    flock(fd, LOCK_EX, md.path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return holding(fd);
}

/** Take the service's lock without blocking the event loop (waits on libuv's pool only when contended). */
export async function lock(md: MountDir): Promise<Lock> {
  const fd = openLockFile(md);
  try {
    if (!flock(fd, LOCK_EX | LOCK_NB, md.path)) await flockAsync(fd, LOCK_EX, md.path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return holding(fd);
}
