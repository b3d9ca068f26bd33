// A short byte exchange on a non-blocking stream (the tcp auth handshake): the
// read and write steps of a generator that io's driveSync/driveAsync run under one deadline.
import { csError, errnoCode, readRaw, writeRaw, EAGAIN } from '../sys';
import { AGAIN, type Step, type Steps } from '../io';

/** A handshake: yields read/write steps, receives each step's result, returns its outcome. */
export type Exchange<R> = Steps<R>;

/** A step that reads exactly `n` bytes (the peer closing first is ECONNRESET). */
export function readExact(fd: number, n: number, what: string, path?: string): Step<Buffer> {
  const buf = Buffer.alloc(n);
  let off = 0;
  return {
    want: 'r',
    attempt: () => {
      while (off < n) {
        const r = readRaw(fd, buf.subarray(off));
        if (r === -EAGAIN) return AGAIN;
        if (r < 0) throw csError(errnoCode(-r), what, path, `reading the ${n}-byte handshake`);
        if (r === 0) throw csError('ECONNRESET', what, path, 'the peer closed the connection during the handshake');
        off += r;
      }
      return buf;
    },
  };
}

/** A step that writes all of `data`. */
export function writeAll(fd: number, data: Buffer, what: string, path?: string): Step<void> {
  let off = 0;
  return {
    want: 'w',
    attempt: () => {
      while (off < data.length) {
        const r = writeRaw(fd, data.subarray(off));
        if (r === -EAGAIN) return AGAIN;
        if (r < 0) throw csError(errnoCode(-r), what, path, 'writing the handshake');
        off += r;
      }
    },
  };
}
