// Checking what callers hand to put/reply (size, descriptors, message ids) and
// taking copies of their descriptors, which stay theirs: as with cssend, nothing is closed for them.
import { close, csError, dup, type CsError } from '../sys';
import { CAPS_MAXFDS, CAPS_MAXMSG } from './constants';
import { typeError } from './key';

export function checkMessage(data: unknown, fds: unknown, syscall: string, path: string): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw typeError('msg', 'a Uint8Array or Buffer', data);
  if (data.length > CAPS_MAXMSG) throw csError('EINVAL', syscall, path, `message is ${data.length} bytes, the limit is ${CAPS_MAXMSG}`);
  if (!Array.isArray(fds)) throw typeError('fds', 'an array of descriptors', fds);
  if (fds.length > CAPS_MAXFDS) throw csError('EINVAL', syscall, path, `at most ${CAPS_MAXFDS} descriptors per message, got ${fds.length}`);
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
