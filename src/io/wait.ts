// Drive a non-blocking step until it completes: synchronously with poll(2) and a
// deadline, or asynchronously on libuv through a Watcher (never blocking the loop).
import { csError, poll, POLLIN, POLLOUT, Watcher } from '../sys';
import { AGAIN } from './record';

export type Want = 'r' | 'w';

const pfd = new Int32Array(2);

/** Block this thread until `fd` is ready for `want`, at most `ms` (-1: forever). False on timeout. */
export function waitSync(fd: number, want: Want, ms: number): boolean {
  pfd[0] = fd;
  pfd[1] = want === 'r' ? POLLIN : POLLOUT; // events (short) + revents (short) = one int32
  return poll(pfd, 1, ms) > 0;
}

/** Retry `step` until it stops answering AGAIN, waiting with poll(2); ETIMEDOUT after `ms`. */
export function runSync<T>(fd: number, want: Want, ms: number, step: () => T | typeof AGAIN, what: string, path?: string): T {
  const deadline = ms < 0 ? Infinity : Date.now() + ms;
  for (;;) {
    const r = step();
    if (r !== AGAIN) return r;
    const left = deadline === Infinity ? -1 : Math.max(0, deadline - Date.now());
    if (!waitSync(fd, want, left) && left !== -1 && Date.now() >= deadline) {
      throw csError('ETIMEDOUT', what, path, `peer did not answer within ${ms} ms`);
    }
  }
}

export function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR', cause: reason });
}

/** Resolve when the watcher reports `want`; rejects on abort or after `ms` (if given). */
export function ready(w: Watcher, want: Want, signal?: AbortSignal, ms?: number, what = 'wait', path?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const onReady = () => finish();
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      if (err) w.cancel(onReady);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish(abortError(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (ms !== undefined) timer = setTimeout(() => finish(csError('ETIMEDOUT', what, path, `peer did not answer within ${ms} ms`)), ms);
    if (want === 'r') w.onReadable(onReady);
    else w.onWritable(onReady);
  });
}

/** Async form of runSync. */
export async function runAsync<T>(
  w: Watcher, want: Want, step: () => T | typeof AGAIN,
  opts: { signal?: AbortSignal; ms?: number; what?: string; path?: string } = {},
): Promise<T> {
  const deadline = opts.ms === undefined ? undefined : Date.now() + opts.ms;
  for (;;) {
    const r = step();
    if (r !== AGAIN) return r;
    const left = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
    await ready(w, want, opts.signal, left, opts.what, opts.path);
  }
}
