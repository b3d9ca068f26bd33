// `cs -l`, `-s`, `-p`, `-m`: the namespace as lines of text or as JSON records.
import { listServices, mountDir, type ServiceEntry } from '../namespace';
import { parsePath } from '../path';
import { columns, printJson, printLines } from './output';

export type Listing = 'list' | 'long' | 'pids' | 'mounts';

/** Which entries each listing shows: services with a socket, live servers, or every mount directory. */
const SHOWN: Record<Listing, (e: ServiceEntry) => boolean> = {
  list: (e) => e.socket,
  long: (e) => e.socket,
  pids: (e) => e.alive,
  mounts: () => true,
};

/** `ls -l` style: type, then rwx for user, group, other with setuid/setgid/sticky folded in. */
export function modeString(mode: number): string {
  const bit = (b: number, c: string) => (mode & b ? c : '-');
  const special = (x: number, s: number, set: string) => (mode & s ? (mode & x ? set : set.toUpperCase()) : bit(x, 'x'));
  return 'd'
    + bit(0o400, 'r') + bit(0o200, 'w') + special(0o100, 0o4000, 's')
    + bit(0o040, 'r') + bit(0o020, 'w') + special(0o010, 0o2000, 's')
    + bit(0o004, 'r') + bit(0o002, 'w') + special(0o001, 0o1000, 't');
}

function lines(kind: Listing, entries: ServiceEntry[]): string[] {
  switch (kind) {
    case 'list':
      return entries.map((e) => e.path);
    case 'long':
      return columns(entries.map((e) => [String(e.uid), modeString(e.mode), e.alive ? String(e.pid) : '-', e.path]));
    case 'pids':
      return entries.map((e) => `${e.pid} ${e.path}`);
    case 'mounts':
      return entries.map((e) => e.dir);
  }
}

/**
 * The entries under `under` (all when undefined). A service path with `user`, `group`
 * or qualifiers names one instance: only the entry in that instance's directory.
 */
export function entriesUnder(under: string | undefined): ServiceEntry[] {
  const entries = listServices(under);
  const p = under === undefined ? null : parsePath(under);
  if (p?.service == null || (p.qualifiers.length === 0 && p.options.user === null && p.options.group === null)) return entries;
  return entries.filter((e) => mountDir(p, e.sid).dir === e.dir);
}

/** Print one listing of the services under `under` (a /dev/<proto>[/<host>[/<service>[/<option>...]]] path, or all). */
export function printListing(kind: Listing, under: string | undefined, json: boolean): void {
  const entries = entriesUnder(under).filter(SHOWN[kind]);
  if (json) printJson(entries);
  else printLines(lines(kind, entries));
}
