// Moving a port's traffic without the event loop, for the C-shaped calls: poll(2)
// over its descriptors, then accept, read and write whatever is ready. caps_sys_get
// never blocks; caps_sys_wait blocks in poll(2) until a message is there or a
// handled signal ends the wait with EINTR.
import { csError, poll } from '../sys';
import type { CapsCred, CapsMsgid } from './constants';
import type { Port } from './port';

/** Flush, poll the port's descriptors up to `timeoutMs` (-1: forever, 0: just look), handle what is ready; EINTR is thrown as `syscall`. */
export function pump(port: Port, timeoutMs: number, syscall = 'poll'): void {
  port.flush();
  const targets = port.pollTargets();
  const pfds = new Int32Array(2 * targets.length);
  for (let i = 0; i < targets.length; i++) {
    pfds[2 * i] = targets[i]!.fd;
    pfds[2 * i + 1] = targets[i]!.events;
  }
  const retry = port.retryIn();
  if (poll(pfds, targets.length, retry > 0 && (timeoutMs < 0 || retry < timeoutMs) ? retry : timeoutMs, syscall, port.path) <= 0) return;
  for (let i = 0; i < targets.length; i++) {
    const revents = pfds[2 * i + 1]! >>> 16;
    if (revents) targets[i]!.ready(revents);
  }
}

/** caps_sys_get (blocking false) and caps_sys_wait (blocking true). */
export function retrieve(port: Port, buf: Uint8Array, msgid: CapsMsgid, cred: CapsCred | undefined, blocking: boolean, syscall: string): number {
  for (let polled = false; ; polled = true) {
    const n = port.take(buf, msgid, cred, syscall);
    if (n !== null) return n;
    port.checkAlive(syscall);
    if (polled && !blocking) throw csError('EWOULDBLOCK', syscall, port.path, 'no message is ready');
    // a wait polls without limit at once: poll returns at once when something is ready, and one look first would cost a call each time nothing is
    pump(port, polled || blocking ? -1 : 0, syscall);
  }
}

/** Pump until `done()` holds, at most `ms`; ETIMEDOUT after that. */
export function pumpUntil(port: Port, done: () => boolean, ms: number, syscall: string): void {
  const deadline = Date.now() + ms;
  while (!done()) {
    const left = deadline - Date.now();
    if (left <= 0) throw csError('ETIMEDOUT', syscall, port.path, `the service did not answer within ${ms} ms`);
    pump(port, left, syscall);
  }
}
