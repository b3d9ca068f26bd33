// The server log of a service: L-cs.mnt takes the stdout and stderr of every
// server cs starts; the previous start's log is kept as O-cs.mnt. Its tail is
// what a client quotes when the server it started dies.
import { closeSync, constants as C, fstatSync, openSync, readSync, renameSync } from 'node:fs';
import type { CsError } from '../sys';
import type { MountDir } from '../namespace';

/** Lines of the log a start failure quotes. */
export const TAIL_LINES = 10;
const TAIL_BYTES = 4096;

/** Move the last log to O-cs.mnt and open a fresh L-cs.mnt for appending; the caller owns the fd. */
export function openFreshLog(md: MountDir): number {
  try {
    renameSync(md.log, md.oldLog);
  } catch (e) {
    if ((e as CsError).code !== 'ENOENT') throw e;
  }
  return openSync(md.log, C.O_RDWR | C.O_APPEND | C.O_CREAT | C.O_NOFOLLOW, 0o644);
}

/** The last `lines` lines of the log ('' when there is none). */
export function logTail(md: MountDir, lines = TAIL_LINES): string {
  let fd: number;
  try {
    fd = openSync(md.log, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, TAIL_BYTES));
    const n = readSync(fd, buf, 0, buf.length, size - buf.length);
    const text = buf.toString('utf8', 0, n).replace(/\n+$/, '');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  } finally {
    closeSync(fd);
  }
}

/** Append the log's tail to an error about a server that did not come up. */
export function withLogTail(err: CsError, md: MountDir): CsError {
  const tail = logTail(md);
  err.message += tail ? `; last lines of ${md.log}:\n${tail.replace(/^/gm, '  ')}` : `; its log ${md.log} is empty`;
  return err;
}
