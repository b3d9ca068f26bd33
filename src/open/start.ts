// Auto-start (SPEC 4). When nobody answers, a client takes the service's X-cs.mnt
// lock and connects if a server came up meanwhile; otherwise it binds S-cs.mnt
// itself, spawns the server with that socket, records P-cs.mnt, drops its copy of
// the socket and the lock, and connects: the connection waits in the listen
// backlog until the server accepts. No polling, and one server however many race.
import { close, csError, type CsError } from '../sys';
import { createMountDir, lock, lockSync, recordedPid, recordPid, removeIfPresent, removeRecords, type Lock } from '../namespace';
import { handOver, handshakeTimeout } from '../io';
import { CS_OPEN_TEST } from '../stream/flags';
import { bindService } from '../stream/listen';
import { forget } from '../stream/registry';
import type * as NetServer from '../net/server';
import { startPlace, startPlaceSync } from '../launch/hosts';
import { logTail, withLogTail } from '../launch/log';
import { isNet, type Service } from '../launch/service';
import { spawnServer } from '../launch/spawn';
import { connectService, greetAsync, greetSync, notRunning, openAsync, openSync, type Opened } from './connect';
import type * as Svc from './svc';

// tcp/udp services only: starting an fdp service never loads the net layer
const netServer = (): typeof NetServer => require('../net/server');
// libcs-style .svc entries only
const svc = (): typeof Svc => require('./svc');

/** What a client found or did while it held the lock. */
type Step =
  | { kind: 'connected'; fd: number }
  | { kind: 'started'; pid: number }
  | { kind: 'run-svc' }
  | { kind: 'await-svc'; sign: Lock | null };

/** The connection after the lock: the one made under it, or a new one to the server just started. */
function connectAfter(s: Service, step: Step): number {
  return step.kind === 'connected' ? step.fd : connectService(s);
}

/** True when `csopen` may start the service: it has a launch entry and neither `test` nor CS_OPEN_TEST forbids it. */
export function mayStart(s: Service, flags = 0): boolean {
  return s.entry !== null && !s.path.options.test && !(flags & CS_OPEN_TEST);
}

/** Bind the socket, spawn the server with it (blocking, as any server expects a handed-over socket), record its pid; our copy of the socket is closed on return. */
function launch(s: Service): number {
  const fd = isNet(s) ? netServer().bindNetService(s.path, s.md) : bindService(s.md);
  try {
    const pid = spawnServer(s, handOver(fd));
    recordPid(s.md, pid);
    return pid;
  } catch (e) {
    // a tcp bind recorded this process as the server: that record must not outlive the failed start
    removeRecords(s.md);
    removeIfPresent(s.md.socket);
    throw e;
  } finally {
    forget(fd);
    close(fd);
  }
}

/** With X-cs.mnt held: connect to a server that answers, or start one. */
function connectOrLaunch(s: Service): Step {
  try {
    return { kind: 'connected', fd: connectService(s) };
  } catch (e) {
    if (!notRunning(e)) throw e;
  }
  if (s.entry!.svc) return svc().svcStarting(s.md) ? { kind: 'await-svc', sign: null } : { kind: 'run-svc' };
  return { kind: 'started', pid: launch(s) };
}


/** Forget the records of a server we started that died, unless another start replaced them. */
function clearDeadStart(s: Service, pid: number): void {
  const held = lockSync(s.md);
  try {
    removeRecords(s.md, pid);
  } finally {
    held.release();
  }
}

/** Turn a failed connect or rendezvous after a start into an error quoting the server's log. */
function startFailure(s: Service, e: unknown, step: Step): unknown {
  const err = e as CsError;
  const pid = step.kind === 'started' ? step.pid : recordedPid(s.md);
  const server = pid === null ? 'the server' : `the server (pid ${pid})`;
  const path = s.path.canonical;
  if (err.code === 'ETIMEDOUT') return withLogTail(csError('ETIMEDOUT', 'csopen', path, `${server} did not accept within ${handshakeTimeout()} ms`), s.md);
  if (err.code !== 'ECONNRESET' && !notRunning(err)) return err;
  let why = 'exited before accepting';
  if (step.kind === 'started') {
    clearDeadStart(s, step.pid);
    // a libcs server ignores the socket handed to it, finds it answering and exits with EEXIST
    if (/File exists|EEXIST/u.test(logTail(s.md))) {
      why += `; a server that creates its own socket, as a libcs server does, must be installed as ${s.path.service}.svc, not as server`;
    }
  }
  return withLogTail(csError('ECONNRESET', 'csopen', path, `${server} ${why}`), s.md);
}

/** csopen's path when nobody answered: start the service (or wait for the start under way) and connect. */
export function openStartingSync(asked: Service): number {
  const place = startPlaceSync(asked);
  if ('started' in place) return openSync(place.started);
  const s = place.here;
  createMountDir(s.md);
  let step: Step;
  const held = lockSync(s.md);
  try {
    step = connectOrLaunch(s);
    if (step.kind === 'run-svc') step = { kind: 'await-svc', sign: svc().runSvcSync(s) };
  } finally {
    held.release();
  }
  const svcFd = step.kind === 'await-svc' ? svc().connectWhenListeningSync(s, step.sign) : null;
  try {
    return greetSync(s, svcFd ?? connectAfter(s, step));
  } catch (e) {
    throw startFailure(s, e, step);
  }
}

/** open()'s path when nobody answered; like openStartingSync without blocking the event loop. */
export async function openStarting(asked: Service, signal?: AbortSignal): Promise<Opened> {
  const place = await startPlace(asked);
  if ('started' in place) return openAsync(place.started, signal);
  const s = place.here;
  createMountDir(s.md);
  let step: Step;
  const held = await lock(s.md);
  try {
    step = connectOrLaunch(s);
    if (step.kind === 'run-svc') step = { kind: 'await-svc', sign: await svc().runSvcAsync(s) };
  } finally {
    held.release();
  }
  const svcFd = step.kind === 'await-svc' ? await svc().connectWhenListening(s, step.sign) : null;
  try {
    return await greetAsync(s, svcFd ?? connectAfter(s, step), signal);
  } catch (e) {
    throw startFailure(s, e, step);
  }
}
