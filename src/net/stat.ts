// Host status (cs.3 csstat/csnote): one file per host in the status directory,
// $CS_STAT_DIR or <root>/stat, holding the JSON the status daemon last noted; the
// file's modification time says when. Hosts share status the libcs way: point
// CS_STAT_DIR at a directory every host mounts.
import { closeSync, constants as C, fstatSync, lstatSync, mkdirSync, chmodSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { csError, type CsError } from '../sys';
import { ensureRoot, mountRoot } from '../namespace';

export interface CsStat {
  /** Uptime in seconds; negative: the host has been down (not updated) for at least -up seconds. */
  up: number;
  /** 1-minute load average times 100. */
  load: number;
  /** Seconds since the most recent keyboard or mouse activity of any logged-in user. */
  idle: number;
  /** Users active within the last 24 hours. */
  users: number;
  /** Percent of CPU time in user (and nice) mode. */
  pctusr: number;
  /** Percent of CPU time in the kernel. */
  pctsys: number;
}

const FIELDS = ['up', 'load', 'idle', 'users', 'pctusr', 'pctsys'] as const;
export const DEFAULT_STAT_FREQ = 50;
/** Missed updates after which a host counts as down. */
export const MISSED_UPDATES = 3;

/** Seconds between status updates on average: $CS_STAT_FREQ, default 50. */
export function statFreq(): number {
  const v = Number(process.env.CS_STAT_FREQ);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_STAT_FREQ;
}

/** A host whose status is older than this many seconds is down. */
export function statDown(): number {
  return MISSED_UPDATES * statFreq();
}

export function statDir(): string {
  return process.env.CS_STAT_DIR || join(mountRoot(), 'stat');
}

/** The status file name of host `name`: its first label, lower case (an address stays whole). */
function statName(name: string, syscall: string): string {
  const n = /^[0-9.]+$/u.test(name) ? name : name.split('.')[0].toLowerCase();
  if (!/^[a-z0-9][a-z0-9_.-]{0,254}$/u.test(n)) throw csError('EINVAL', syscall, undefined, `'${name}' is not a host name`);
  return n;
}

/** Note `st` as the current status of host `name`. Only the owner of its status file (or root) may. */
export function csnote(name: string, st: CsStat): void {
  const file = statName(name, 'csnote');
  for (const f of FIELDS) {
    if (typeof st?.[f] !== 'number' || !Number.isFinite(st[f])) throw csError('EINVAL', 'csnote', undefined, `status field '${f}' is not a number`);
  }
  const dir = statDir();
  if (!process.env.CS_STAT_DIR) ensureRoot();
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o1777);
  const path = join(dir, file);
  const owner = lstatSync(path, { throwIfNoEntry: false })?.uid;
  const me = process.geteuid!();
  if (owner !== undefined && owner !== me && me !== 0) {
    throw csError('EPERM', 'csnote', path, `the status of ${file} belongs to uid ${owner}`);
  }
  // write aside and rename, so a reader never sees half a record
  const tmp = join(dir, `.${file}.${process.pid}`);
  const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, JSON.stringify(Object.fromEntries(FIELDS.map((f) => [f, st[f]]))) + '\n');
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** The status of host `name`; ENOENT when no status was ever noted for it. */
export function csstat(name: string): CsStat {
  const path = join(statDir(), statName(name, 'csstat'));
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (e) {
    throw csError((e as CsError).code ?? 'EIO', 'csstat', path, `no status for host '${name}'`);
  }
  let age: number;
  let noted: Record<string, unknown>;
  try {
    age = (Date.now() - fstatSync(fd).mtimeMs) / 1000;
    noted = JSON.parse(readFileSync(fd, 'utf8'));
  } catch {
    throw csError('EINVAL', 'csstat', path, 'the status file is not a status record');
  } finally {
    closeSync(fd);
  }
  const st = {} as CsStat;
  for (const f of FIELDS) {
    if (typeof noted?.[f] !== 'number') throw csError('EINVAL', 'csstat', path, `the status file has no number '${f}'`);
    st[f] = noted[f] as number;
  }
  st.up = age > statDown() ? -Math.max(1, Math.round(age)) : st.up + Math.round(Math.max(0, age));
  return st;
}

/** Hosts with a status file. */
export function statHosts(): string[] {
  try {
    return readdirSync(statDir()).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
}
