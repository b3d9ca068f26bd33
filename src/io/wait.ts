// The only place cs waits for a descriptor. A step is a non-blocking attempt that
// answers AGAIN while its descriptor is not ready; a protocol is a generator of
// steps. Both are driven synchronously with poll(2) or asynchronously on libuv
// through a Watcher (never blocking the loop), each under a deadline.
import { abortError, poll, POLLIN, POLLOUT, type Watcher } from '../sys';
import { deadlineIn, msLeft, timedOut } from './deadline';

/** Returned by a step when its descriptor is not ready. */
export const AGAIN = Symbol('again');

export type Want = 'r' | 'w';

/** One non-blocking attempt at `want`. */
export interface Step<T = unknown> {
  want: Want;
  attempt: () => T | typeof AGAIN;
}

/** A protocol: yields steps, receives each step's result, returns its outcome. */
export type Steps<R> = Generator<Step, R, unknown>;

const pfd = new Int32Array(2);

/**
 * Block this thread until `fd` is ready for `want`, at most `ms` (-1: forever).
 * False on timeout; a handled signal throws EINTR as `what` on `path`.
 */
export function waitSync(fd: number, want: Want, ms: number, what = 'poll', path?: string): boolean {
  pfd[0] = fd;
  pfd[1] = want === 'r' ? POLLIN : POLLOUT; // events (short) + revents (short) = one int32
  return poll(pfd, 1, ms, what, path) > 0;
}

/**
 * Retry `step` until it stops answering AGAIN, waiting with poll(2) (before the first
 * try too with `waitFirst`); ETIMEDOUT after `ms` (-1: never; a function is asked
 * only when a wait is due, sparing a step that succeeds at once reading the clock or
 * the environment).
 */
export function runSync<T>(
  fd: number, want: Want, ms: number | (() => number), step: () => T | typeof AGAIN, what: string, path?: string, waitFirst = false,
): T {
  let r = waitFirst ? AGAIN : step();
  if (r !== AGAIN) return r;
  const limit = typeof ms === 'function' ? ms() : ms;
  const deadline = deadlineIn(limit);
  for (;;) {
    if (!waitSync(fd, want, msLeft(deadline), what, path)) throw timedOut(what, path, limit);
    r = step();
    if (r !== AGAIN) return r;
  }
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
    if (ms !== undefined) timer = setTimeout(() => finish(timedOut(what, path, ms)), ms);
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

/**
 * Run generator `gen` to its end: `perform` each step it yields and resume it
 * with the result, or throw the step's error into it. An algorithm written once as
 * a generator gets its synchronous form from this and its async form from stepThroughAsync.
 */
export function stepThrough<Y, R, N>(gen: Generator<Y, R, N>, perform: (step: Y) => N): R {
  let r = gen.next();
  while (!r.done) {
    let value: N;
    try {
      value = perform(r.value);
    } catch (e) {
      r = gen.throw(e);
      continue;
    }
    r = gen.next(value);
  }
  return r.value;
}

/** stepThrough with steps performed asynchronously. */
export async function stepThroughAsync<Y, R, N>(gen: Generator<Y, R, N>, perform: (step: Y) => Promise<N>): Promise<R> {
  let r = gen.next();
  while (!r.done) {
    let value: N;
    try {
      value = await perform(r.value);
    } catch (e) {
      r = gen.throw(e);
      continue;
    }
    r = gen.next(value);
  }
  return r.value;
}

/** Run the protocol `steps` on `fd`, blocking this thread at most `ms` in all. */
export function driveSync<R>(steps: Steps<R>, fd: number, ms: number, what: string, path?: string): R {
  const deadline = Date.now() + ms;
  return stepThrough(steps, (step) => runSync(fd, step.want, msLeft(deadline), step.attempt, what, path));
}

/** Run the protocol `steps` on `fd` through its watcher, at most `ms` in all. */
export function driveAsync<R>(steps: Steps<R>, w: Watcher, ms: number, what: string, path?: string, signal?: AbortSignal): Promise<R> {
  const deadline = Date.now() + ms;
  return stepThroughAsync(steps, (step) => runAsync(w, step.want, step.attempt, { signal, ms: msLeft(deadline), what, path }));
}
