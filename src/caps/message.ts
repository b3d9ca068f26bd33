// Checking what callers hand to put/reply (size, descriptors, message ids) and
// taking copies of their descriptors, which stay theirs: as with cssend, nothing is closed for them.
import { close, csError, dup, type CsError } from '../sys';
import { typeError } from './key';
import { checkSize } from './large';

/** `max`: the largest message the connection carries (see large.ts). */
export function checkMessage(data: unknown, fds: unknown, max: number, syscall: string, path: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw typeError('msg', 'a Uint8Array or Buffer', data);
  if (!Array.isArray(fds)) throw typeError('fds', 'an array of descriptors', fds);
  checkSize(data.length, fds.length, max, syscall, path);
  for (const fd of fds) {
    if (!Number.isInteger(fd) || fd < 0) throw csError('EBADF', syscall, path, `'${String(fd)}' is not a descriptor`);
  }
}

/**
 * Close-on-exec duplicates of `fds` for the port to send later (the caller may close
 * its own at once). EBADF names the descriptor that is not open; nothing is left behind.
 */
export function dupFds(fds: readonly number[], syscall: string, path: string): number[] {
  const out: number[] = [];
  for (const fd of fds) {
    try {
      out.push(dup(fd));
    } catch (e) {
      for (const d of out) close(d);
      throw csError((e as CsError).code ?? 'EBADF', syscall, path, `descriptor ${fd} cannot be sent`);
    }
  }
  return out;
}

const MAX_ID = BigInt(Number.MAX_SAFE_INTEGER);

/** A message id as a table key, or null when it cannot name any message. */
export function idNumber(id: unknown): number | null {
  if (typeof id !== 'bigint') throw typeError('msgid', 'a bigint', id);
  return id > 0n && id <= MAX_ID ? Number(id) : null;
}
