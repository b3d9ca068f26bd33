// Client side of csopen: connect to a service's socket and do the rendezvous.
import { close, csError, Watcher, type CsError } from '../sys';
import type { CsId } from '../stream/flags';
import { remember } from '../stream/registry';
import { checkMountDir } from '../namespace';
import { deadlineIn, handshakeTimeout, msLeft, runAsync, runSync, sleepSync, stepThrough, stepThroughAsync } from '../io';
import { checkServer, clientRendezvous, connectUnix, type Greeted } from '../stream/handshake';
import { argFile } from '../stream/args';
import type * as NetOpen from '../net/open';
import { isNet, type Service } from '../launch/service';

// tcp/udp services only: an fdp open never loads the net layer
const net = (): typeof NetOpen => require('../net/open');

/** Nobody is listening: the one condition auto-start may cure. */
export function notRunning(e: unknown): boolean {
  const code = (e as CsError).code;
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}

/** ENOENT for a service nobody serves (a stale socket included), saying why nothing was started. */
export function notRunningError(s: Service, e: CsError): CsError {
  const what = isNet(s) ? 'nothing answers at its port' : e.code === 'ECONNREFUSED' ? 'a stale socket is there but no server answers' : 'no server is running';
  const why = s.entry === null ? 'no launch entry was found' : 'starting it was not asked for (test)';
  return csError('ENOENT', e.syscall, s.path.canonical, `${what} and ${why}`);
}

/** Connect a non-blocking socket to the service (the rendezvous is still to do); throws ENOENT/ECONNREFUSED when nobody listens. */
export function connectService(s: Service): number {
  // tcp/udp connect to a server on this host here (auto-start): quick, so done synchronously
  if (isNet(s)) return net().netDialSync(s.path);
  checkMountDir(s.md);
  return connectUnix(s.md);
}

/** The longest pause between two tries at a full backlog. */
const PAUSE_MAX_MS = 50;

/**
 * connectService, but a full backlog (EAGAIN: a burst of clients) is tried again after a
 * pause (yielded, in ms) growing from 1 to PAUSE_MAX_MS, within $CS_TIMEOUT_MS; then EAGAIN.
 */
function* connectPolitely(s: Service): Generator<number, number, void> {
  const deadline = deadlineIn(handshakeTimeout());
  for (let pause = 1; ; pause = Math.min(2 * pause, PAUSE_MAX_MS)) {
    try {
      return connectService(s);
    } catch (e) {
      if ((e as CsError).code !== 'EAGAIN' || msLeft(deadline) < pause) throw e;
    }
    yield pause;
  }
}

/** The answer to `s`'s server: refused unless it may serve `s`; the path's `/#` argument, when it has one, attached. */
function answer(s: Service, g: Greeted): number[] {
  checkServer(g.server, s.md);
  const arg = argFile(s.path.arg, g.cs, s.path.canonical);
  return arg === null ? [] : [arg];
}

/**
 * Do the client half of the rendezvous on a connected fd, each step within
 * $CS_TIMEOUT_MS; closes it on failure. An fdp stream is remembered with its path and server.
 */
export function greetSync(s: Service, fd: number): number {
  if (isNet(s)) return net().netGreetSync(s.path, fd);
  const path = s.path.canonical;
  try {
    const ms = handshakeTimeout();
    const g = stepThrough(clientRendezvous(fd, path, (g) => answer(s, g)), (step) => runSync(fd, step.want, ms, step.attempt, 'csopen', path));
    remember(fd, path, undefined, g.server, g.cs);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** A stream the async API opened: an fdp stream's peer is the process that greeted (its path is the service's), `cs` whether it speaks cs. */
export type Opened = { fd: number; watcher: Watcher; peer: CsId; cs: boolean } | NetOpen.NetStream;

/** The rendezvous on a non-blocking connected fd, without blocking; closes it on failure. */
export async function greetAsync(s: Service, fd: number, signal?: AbortSignal): Promise<Opened> {
  const watcher = new Watcher(fd);
  if (isNet(s)) return net().netGreetAsync(s.path, fd, watcher, signal);
  try {
    const opts = { signal, ms: handshakeTimeout(), what: 'open', path: s.path.canonical };
    const g = await stepThroughAsync(clientRendezvous(fd, s.path.canonical, (g) => answer(s, g)), (step) => runAsync(watcher, step.want, step.attempt, opts));
    return { fd, watcher, peer: g.server, cs: g.cs };
  } catch (e) {
    watcher.close();
    close(fd);
    throw e;
  }
}

/** Connect and greet synchronously; returns a non-blocking stream fd. */
export function openSync(s: Service): number {
  if (isNet(s)) return net().netOpenSync(s.path);
  return greetSync(s, stepThrough(connectPolitely(s), sleepSync));
}

/** Connect and greet without blocking; returns a non-blocking fd and its watcher. */
export async function openAsync(s: Service, signal?: AbortSignal): Promise<Opened> {
  if (isNet(s)) return net().netOpenAsync(s.path, { signal });
  return greetAsync(s, await stepThroughAsync(connectPolitely(s), (ms) => new Promise((resolve) => setTimeout(resolve, ms))), signal);
}
