// Deadlines: how long cs waits for a peer ($CS_TIMEOUT_MS) and the error when time is up;
// and the caller's own deadline, an AbortSignal that closes what it was given to.
import { csError, type CsError } from '../sys';

/** Milliseconds a step of a protocol may wait for its peer ($CS_TIMEOUT_MS, default 10 s). */
export function handshakeTimeout(): number {
  const v = Number(process.env.CS_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 10_000;
}

/** The absolute deadline `ms` from now (-1: none). */
export function deadlineIn(ms: number): number {
  return ms < 0 ? Infinity : Date.now() + ms;
}

/** Milliseconds left until `deadline`, as poll(2) takes them (-1: no deadline). */
export function msLeft(deadline: number): number {
  return deadline === Infinity ? -1 : Math.max(0, deadline - Date.now());
}

export function timedOut(what: string, path: string | undefined, ms: number): CsError {
  return csError('ETIMEDOUT', what, path, `peer did not answer within ${ms} ms`);
}

/** Run `close` when `signal` aborts (at once if it has); returns the function that lets go of the signal. */
export function closeOnAbort(signal: AbortSignal | undefined, close: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    close();
    return () => {};
  }
  signal.addEventListener('abort', close, { once: true });
  return () => signal.removeEventListener('abort', close);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Block this thread for `ms` (a pause before a retry in the synchronous API). */
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
