// The X-cs.mnt lock (flock) that serialises creating or starting a service, and
// the P-cs.mnt record that tells whether the server that bound S-cs.mnt still lives.
import { closeSync, constants as C, openSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { flock, flockAsync, LOCK_EX, LOCK_NB, LOCK_UN, type CsError } from '../sys';
import type { MountDir } from './mount';

export interface Lock {
  release(): void;
}

function openLockFile(md: MountDir): number {
  return openSync(md.lock, C.O_RDONLY | C.O_CREAT | C.O_NOFOLLOW, 0o666);
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

/** The pid P-cs.mnt points at, or null. */
export function recordedPid(md: MountDir): number | null {
  try {
    const m = /^\/proc\/(\d+)$/.exec(readlinkSync(md.pidLink));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as CsError).code === 'EPERM';
  }
}

/** Point P-cs.mnt at /proc/<pid>, replacing any older record. */
export function recordPid(md: MountDir, pid: number): void {
  removeIfPresent(md.pidLink);
  symlinkSync(`/proc/${pid}`, md.pidLink);
}

export function removeIfPresent(file: string): void {
  try {
    unlinkSync(file);
  } catch (e) {
    if ((e as CsError).code !== 'ENOENT') throw e;
  }
}
