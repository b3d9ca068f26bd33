// A short byte exchange on a non-blocking stream (the tcp auth handshake), written
// once as a generator of read/write steps and driven either synchronously (poll)
// or asynchronously (libuv readiness), each under one deadline.
import { csError, errnoCode, readRaw, writeRaw, EAGAIN, type Watcher } from '../sys';
import { AGAIN } from '../stream/record';
import { runAsync, runSync, type Want } from '../stream/wait';

export interface Step<T = Buffer | void> {
  want: Want;
  attempt: () => T | typeof AGAIN;
}

/** A handshake: yields steps, receives each step's result, returns its outcome. */
export type Exchange<R> = Generator<Step, R, Buffer | void>;

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

/** Run `ex` on `fd`, blocking this thread at most `ms` in all. */
export function exchangeSync<R>(ex: Exchange<R>, fd: number, ms: number, what: string, path?: string): R {
  const deadline = Date.now() + ms;
  for (let r = ex.next(); ; ) {
    if (r.done) return r.value;
    const step = r.value;
    r = ex.next(runSync(fd, step.want, Math.max(0, deadline - Date.now()), step.attempt, what, path));
  }
}

/** Run `ex` on `fd` through its watcher, at most `ms` in all. */
export async function exchangeAsync<R>(ex: Exchange<R>, w: Watcher, ms: number, what: string, path?: string, signal?: AbortSignal): Promise<R> {
  const deadline = Date.now() + ms;
  for (let r = ex.next(); ; ) {
    if (r.done) return r.value;
    const step = r.value;
    r = ex.next(await runAsync(w, step.want, step.attempt, { signal, ms: Math.max(0, deadline - Date.now()), what, path }));
  }
}
