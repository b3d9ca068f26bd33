// Byte I/O on a stream the cs.3 way: csread with its modes, cswrite, cspeek. They
// block like the C routines, but every wait is poll(2) with an optional deadline and
// each read or write is a single non-blocking attempt (MSG_DONTWAIT on sockets), so
// the descriptor's own blocking mode is never changed.
import { fstatSync } from 'node:fs';
import {
  csError, errnoError, readRaw, recvRaw, sendRaw, writeRaw,
  EAGAIN, EINTR, MSG_DONTWAIT, MSG_PEEK,
} from '../sys';
import { lookup } from './registry';
import { AGAIN, runSync, waitSync, type Want } from '../io';

/** csread: read exactly `size` bytes (several reads if need be). */
export const CS_EXACT = 0x0001;
/** csread: one read of at most `size` bytes. */
export const CS_LIMIT = 0x0002;
/** csread: one line, up to and including its newline, at most `size` bytes. */
export const CS_LINE = 0x0004;
/** csread: restart after a signal. Always so here: an interrupted call is retried. */
export const CS_RESTART = 0x1000;

/** What pipes guarantee to take in one write once poll(2) says writable (PIPE_BUF). */
const PIPE_ATOMIC = 4096;

interface Io {
  fd: number;
  socket: boolean;
  path: string | undefined;
  deadline: number;
  ms: number;
  what: string;
}

function io(fd: number, ms: number, what: string): Io {
  if (!Number.isInteger(fd) || fd < 0) {
    throw Object.assign(new TypeError(`${what}: fd must be a non-negative integer, got ${String(fd)}`), { code: 'ERR_INVALID_ARG_TYPE' });
  }
  let socket: boolean;
  try {
    socket = fstatSync(fd).isSocket();
  } catch (e) {
    throw csError((e as NodeJS.ErrnoException).code ?? 'EBADF', what, undefined, `fd ${fd}`);
  }
  return { fd, socket, path: lookup(fd)?.path, deadline: ms < 0 ? Infinity : Date.now() + ms, ms, what };
}

/** Retry `attempt` (one non-blocking try: bytes, or -errno) until it is not "would block", within the call's deadline. */
function once(c: Io, want: Want, attempt: () => number): number {
  const left = c.deadline === Infinity ? -1 : Math.max(0, c.deadline - Date.now());
  return runSync(c.fd, want, left, () => {
    // a non-socket has no per-call non-blocking flag: touch it only once poll(2) says ready
    if (!c.socket && !waitSync(c.fd, want, 0)) return AGAIN;
    const r = attempt();
    if (r === -EAGAIN || r === -EINTR) return AGAIN;
    if (r < 0) throw errnoError(-r, c.what, c.path);
    return r;
  }, c.what, c.path);
}

function readOnce(c: Io, buf: Buffer, off: number, len: number, peek = false): number {
  const view = buf.subarray(off, off + len);
  return once(c, 'r', () => (c.socket ? recvRaw(c.fd, view, len, MSG_DONTWAIT | (peek ? MSG_PEEK : 0)) : readRaw(c.fd, view, len)));
}

function badRecord(c: Io, got: number, detail: string): Error {
  return csError('EINVAL', c.what, c.path, `${detail} after ${got} bytes`);
}

/** The length of the line starting at `off`, reading ahead with MSG_PEEK on sockets and a byte at a time elsewhere. */
function readLine(c: Io, buf: Buffer, size: number): number {
  let got = 0;
  while (got < size) {
    const seen = c.socket ? readOnce(c, buf, got, size - got, true) : 1;
    if (seen === 0) break;
    const nl = buf.subarray(got, got + seen).indexOf(0x0a);
    const take = nl < 0 ? seen : nl + 1;
    const n = readOnce(c, buf, got, take);
    if (n === 0) break;
    got += n;
    if (buf[got - 1] === 0x0a) return got;
  }
  if (got === 0) return 0;
  throw badRecord(c, got, got < size ? 'end of stream inside a line' : `no newline within ${size} bytes`);
}

/**
 * Read from `fd` as `mode` says (CS_EXACT, CS_LIMIT or CS_LINE, optionally | CS_RESTART),
 * blocking at most `timeoutMs` (-1: as long as it takes, like the C routine). Returns
 * the bytes; an empty buffer means end of stream before any byte. End of stream inside
 * an exact record or a line, or a line longer than `size`, is EINVAL (the bytes read
 * are consumed, as in libcs).
 */
export function csread(fd: number, size: number, mode: number, timeoutMs = -1): Buffer {
  const c = io(fd, timeoutMs, 'csread');
  if (!Number.isInteger(size) || size < 1) throw csError('EINVAL', 'csread', c.path, `size must be a positive integer, got ${String(size)}`);
  const op = mode & ~CS_RESTART;
  if (op !== CS_EXACT && op !== CS_LIMIT && op !== CS_LINE) throw csError('EINVAL', 'csread', c.path, `mode must be CS_EXACT, CS_LIMIT or CS_LINE, got ${mode}`);
  const buf = Buffer.alloc(size);
  if (op === CS_LINE) return buf.subarray(0, readLine(c, buf, size));
  let got = readOnce(c, buf, 0, size);
  while (op === CS_EXACT && got > 0 && got < size) {
    const n = readOnce(c, buf, got, size - got);
    if (n === 0) throw badRecord(c, got, `end of stream before ${size} bytes`);
    got += n;
  }
  return buf.subarray(0, got);
}

/** Write all of `data` to `fd`, blocking at most `timeoutMs` (-1: as long as it takes); returns its length. EPIPE when the peer is gone. */
export function cswrite(fd: number, data: Uint8Array | string, timeoutMs = -1): number {
  const c = io(fd, timeoutMs, 'cswrite');
  const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let done = 0;
  while (done < buf.length) {
    const view = buf.subarray(done);
    done += once(c, 'w', () => (c.socket ? sendRaw(fd, view, view.length, MSG_DONTWAIT) : writeRaw(fd, view, Math.min(view.length, PIPE_ATOMIC))));
  }
  return done;
}

/**
 * Look at up to `size` bytes waiting on socket `fd` without consuming them, blocking
 * until at least one is there or the stream ends (empty buffer), at most `timeoutMs`.
 * ENOTSOCK for anything but a socket (pipes cannot be peeked).
 */
export function cspeek(fd: number, size: number, timeoutMs = -1): Buffer {
  const c = io(fd, timeoutMs, 'cspeek');
  if (!c.socket) throw csError('ENOTSOCK', 'cspeek', c.path, `fd ${fd} is not a socket`);
  if (!Number.isInteger(size) || size < 1) throw csError('EINVAL', 'cspeek', c.path, `size must be a positive integer, got ${String(size)}`);
  const buf = Buffer.alloc(size);
  return buf.subarray(0, readOnce(c, buf, 0, size, true));
}
