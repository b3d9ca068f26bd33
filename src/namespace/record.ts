// The P-cs.mnt record (a link to /proc/<server pid>) and when it is believed: only
// when the record, the socket and the recorded process belong to one user who may
// serve the service, and the process is the one that was recorded (README "Who may
// serve a service").
import { lstatSync, readlinkSync, symlinkSync, type Stats } from 'node:fs';
import type { PeerCred } from '../sys';
import { ownerName } from './ids';
import { removeIfPresent, type MountDir } from './mount';
import { processInfo } from './proc';
import { trustedServer } from './trust';

/** /proc/stat's boot time has whole seconds; allow that much (and clock steps) when comparing start times. */
const START_SLACK_MS = 2000;

/** The pid P-cs.mnt points at, or null. */
export function recordedPid(md: MountDir): number | null {
  try {
    const m = /^\/proc\/(\d+)$/.exec(readlinkSync(md.pidLink));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}

/**
 * Why P-cs.mnt's `pid` is not to be believed as `md`'s server, or null when it is.
 * `listener` is the kernel's word (SO_PEERCRED of a connection to S-cs.mnt) on who
 * made the listening socket, when the caller asked it. Believed when: the record,
 * the socket and the listener have one owner; the process is alive (not a zombie),
 * runs as that owner, and that owner may serve `md`; it started before the record
 * was written (else it only reuses a dead server's pid); and it made the listening
 * socket itself, or started after the socket was bound (a server handed its socket).
 */
export function recordDoubt(md: MountDir, pid: number, listener: PeerCred | null = null): string | null {
  const link = lstatOrNull(md.pidLink);
  if (!link) return `there is no ${md.pidLink}`;
  const owner = link.uid;
  const sock = lstatOrNull(md.socket);
  if (sock && sock.uid !== owner) return `${md.pidLink} is owned by ${ownerName(owner)} but ${md.socket} by ${ownerName(sock.uid)}`;
  if (listener && listener.uid !== owner) return `${md.pidLink} is owned by ${ownerName(owner)} but the socket listening on ${md.socket} was made by ${ownerName(listener.uid)}`;
  const info = processInfo(pid);
  if (!info || info.state === 'Z') return `pid ${pid} is not running`;
  if (info.uid !== owner) return `pid ${pid} runs as ${ownerName(info.uid)}, not as the owner of ${md.pidLink}, ${ownerName(owner)}`;
  if (!trustedServer(md, info)) return `pid ${pid} runs as ${ownerName(info.uid)}, who may not serve ${md.path}`;
  if (info.start > link.mtimeMs + START_SLACK_MS) return `pid ${pid} is not running the service: it started after ${md.pidLink} was written`;
  if (listener && listener.pid !== pid && sock && info.start < sock.mtimeMs - START_SLACK_MS) {
    return `pid ${pid} is not running the service: it neither made the socket on ${md.socket} nor started after it`;
  }
  return null;
}

/**
 * The server P-cs.mnt records and whether it is believed to run (recordDoubt,
 * without asking the socket: a listing must not connect to every service).
 */
export function recordedServer(md: MountDir): { pid: number | null; alive: boolean } {
  const pid = recordedPid(md);
  return { pid, alive: pid !== null && recordDoubt(md, pid) === null };
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
