// `cs --prune [DIR-PATH]`: remove the records (S-cs.mnt, P-cs.mnt) of servers that
// are provably gone, so listings show only what runs. A record is stale only when
// no live server is recorded and, for an fdp socket, a connect is refused (nothing
// listens: not a server without a pid record, nor a systemd socket). Only the
// caller's own directories are touched (root's: any), each under its X-cs.mnt lock.
import { lockSync, mountDir, recordedServer, removeIfPresent, type MountDir, type ServiceEntry } from '../namespace';
import { parsePath } from '../path';
import { listenerOf } from '../stream/listen';
import { entriesUnder } from './listing';

export interface Pruned {
  path: string;
  dir: string;
  /** The dead server's pid, when one was recorded. */
  pid: number | null;
}

/** True when something accepts connections on the fdp socket of `md` (a refused connect proves nobody does). */
function answers(md: MountDir): boolean {
  try {
    return listenerOf(md) !== null;
  } catch {
    return true; // something is there that a connect could not rule out: not provably stale
  }
}

/** Remove the records of `e` if they are stale, under its lock; true when something was removed. */
function pruneEntry(e: ServiceEntry): boolean {
  const md = mountDir(parsePath(e.path), e.sid);
  const held = lockSync(md);
  try {
    if (recordedServer(md).alive) return false;
    if (e.proto === 'fdp' && answers(md)) return false;
    const had = e.socket || e.pid !== null;
    removeIfPresent(md.pidLink);
    removeIfPresent(md.socket);
    return had;
  } finally {
    held.release();
  }
}

/** Prune the stale records under `under` (a DIR-PATH, or everything); returns what was removed. */
export function prune(under: string | undefined): Pruned[] {
  const me = process.geteuid!();
  const candidates = entriesUnder(under).filter((e) => (e.socket || e.pid !== null) && !e.alive && (me === 0 || e.uid === me));
  return candidates.filter(pruneEntry).map((e) => ({ path: e.path, dir: e.dir, pid: e.pid }));
}
