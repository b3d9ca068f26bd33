// The X-cs.mnt lock (flock) that serialises creating or starting a service, and
// the P-cs.mnt record that tells whether the server that bound S-cs.mnt still lives.
import { closeSync, constants as C, fstatSync, lstatSync, openSync, readFileSync, readlinkSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
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

const USER_HZ = 100;
/** /proc/stat's boot time has whole seconds; allow that much (and clock steps) before calling a pid reused. */
const START_SLACK_MS = 2000;

/** When process `pid` started (ms since the epoch), or null when /proc does not say. */
function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name, which is in parentheses and may hold spaces
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const boot = /^btime (\d+)$/mu.exec(readFileSync('/proc/stat', 'utf8'));
    if (!boot || !Number.isFinite(ticks)) return null;
    return Number(boot[1]) * 1000 + (ticks * 1000) / USER_HZ;
  } catch {
    return null;
  }
}

/**
 * The server P-cs.mnt records and whether it still runs. A process that started
 * after the record was written only reuses a dead server's pid: it is not alive.
 */
export function recordedServer(md: MountDir): { pid: number | null; alive: boolean } {
  const pid = recordedPid(md);
  if (pid === null || !pidAlive(pid)) return { pid, alive: false };
  let recorded: number;
  try {
    recorded = lstatSync(md.pidLink).mtimeMs;
  } catch {
    return { pid, alive: false };
  }
  const started = processStart(pid);
  return { pid, alive: started === null || started <= recorded + START_SLACK_MS };
}

/**
 * Remove S-cs.mnt and P-cs.mnt if P-cs.mnt still names `pid` (by default this
 * process): the record first, so once S-cs.mnt is gone a new server's are never touched.
 * Without `socketToo` only P-cs.mnt goes (a socket someone else made, such as systemd, stays).
 */
export function removeRecords(md: MountDir, pid = process.pid, socketToo = true): void {
  if (recordedPid(md) !== pid) return;
  removeIfPresent(md.pidLink);
  if (socketToo) removeIfPresent(md.socket);
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
