// What the kernel says about a process, from /proc (readable for every process):
// its state (a zombie is dead), process group, user and groups, and start time.
import { readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  /** One letter: R, S, D, Z (zombie), T, ... */
  state: string;
  /** Its process group: equal to pid for a session or group leader (a server cs started). */
  pgrp: number;
  /** Effective uid, effective gid and supplementary groups. */
  uid: number;
  gid: number;
  groups: number[];
  /** When it started, in ms since the epoch. */
  start: number;
}

const USER_HZ = 100;

function bootTime(): number | null {
  const boot = /^btime (\d+)$/mu.exec(readFileSync('/proc/stat', 'utf8'));
  return boot ? Number(boot[1]) * 1000 : null;
}

/** The process `pid`, or null when there is none (or /proc does not show it). */
export function processInfo(pid: number): ProcessInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // fields after the command name, which is in parentheses and may hold spaces
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const boot = bootTime();
    const uid = /^Uid:\s+\d+\s+(\d+)/mu.exec(status);
    const gid = /^Gid:\s+\d+\s+(\d+)/mu.exec(status);
    const groups = /^Groups:(.*)$/mu.exec(status);
    if (boot === null || !uid || !gid) return null;
    return {
      pid, state: f[0], pgrp: Number(f[2]), uid: Number(uid[1]), gid: Number(gid[1]),
      groups: (groups?.[1] ?? '').trim().split(/\s+/u).filter(Boolean).map(Number),
      start: boot + (Number(f[19]) * 1000) / USER_HZ,
    };
  } catch {
    return null;
  }
}

/** True while `pid` is a process that has not exited: a zombie is dead, whatever kill(pid, 0) says. */
export function pidAlive(pid: number): boolean {
  const info = processInfo(pid);
  return info !== null && info.state !== 'Z';
}
