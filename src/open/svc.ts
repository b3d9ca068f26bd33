// libcs-style servers (<service>.svc, SPEC 4.5) bind their own socket and daemonize.
// Under the X-cs.mnt lock a client runs one and waits for it to exit; then it lets
// the lock go (the daemon may take it to bind) and connects once the daemon listens.
// While waiting it holds a shared flock on L-cs.mnt, the sign other clients check
// so they wait for that start instead of running a second .svc.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants as C, openSync } from 'node:fs';
import { csError, flock, LOCK_EX, LOCK_NB, LOCK_SH, LOCK_UN, type CsError } from '../sys';
import type { Lock, MountDir } from '../namespace';
import { handshakeTimeout } from '../io';
import { waitInDir, waitInDirSync } from '../launch/dirwatch';
import { openFreshLog, withLogTail } from '../launch/log';
import type { Service } from '../launch/service';
import { serverPath, serverSpawnOptions } from '../launch/spawn';
import { connectService, notRunning } from './connect';

function openLog(md: MountDir): number | null {
  try {
    return openSync(md.log, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch {
    return null;
  }
}

/** True while another client waits for the socket of a .svc it ran (call with X-cs.mnt held). */
export function svcStarting(md: MountDir): boolean {
  const fd = openLog(md);
  if (fd === null) return false;
  try {
    if (!flock(fd, LOCK_EX | LOCK_NB, md.path)) return true;
    flock(fd, LOCK_UN, md.path);
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Take the "start in progress" sign (with X-cs.mnt held, so it is never contended). */
function holdStartSign(md: MountDir): Lock {
  const fd = openLog(md);
  if (fd === null) return { release() {} };
  flock(fd, LOCK_SH, md.path);
  return { release: () => closeSync(fd) };
}

function failed(s: Service, why: string, code = 'ECONNRESET'): CsError {
  return withLogTail(csError(code, 'csopen', s.path.canonical, why), s.md);
}

function checkExit(s: Service, status: number | null, signal: string | null): void {
  if (status === 0) return;
  throw failed(s, `${s.entry!.server} ${signal ? `was killed by ${signal}` : `exited with status ${status}`}`);
}

/** Run the .svc to its exit (X-cs.mnt held); returns the start sign to hold until the socket appears. */
export function runSvcSync(s: Service): Lock {
  const logFd = openFreshLog(s.md);
  try {
    const opts = serverSpawnOptions(s, logFd);
    const r = spawnSync(s.entry!.server, [serverPath(s.path)], { ...opts, timeout: handshakeTimeout(), killSignal: 'SIGKILL' });
    if (r.error) throw failed(s, `${s.entry!.server} could not run: ${r.error.message}`, (r.error as CsError).code ?? 'ECONNRESET');
    checkExit(s, r.status, r.signal);
  } finally {
    closeSync(logFd);
  }
  return holdStartSign(s.md);
}

export async function runSvcAsync(s: Service): Promise<Lock> {
  const logFd = openFreshLog(s.md);
  try {
    const child = spawn(s.entry!.server, [serverPath(s.path)], serverSpawnOptions(s, logFd));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), handshakeTimeout());
      child.once('error', (e: CsError) => {
        clearTimeout(timer);
        reject(failed(s, `${s.entry!.server} could not run: ${e.message}`, e.code ?? 'ECONNRESET'));
      });
      child.once('exit', (status, signal) => {
        clearTimeout(timer);
        try {
          checkExit(s, status, signal);
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  } finally {
    closeSync(logFd);
  }
  return holdStartSign(s.md);
}

function noServer(s: Service): CsError {
  return failed(s, `no server listened on ${s.md.socket} within ${handshakeTimeout()} ms`, 'ETIMEDOUT');
}

/** A connection to the service, or -1 while nobody listens yet. */
function tryConnect(s: Service): number {
  try {
    return connectService(s);
  } catch (e) {
    if (notRunning(e)) return -1;
    throw e;
  }
}

/**
 * Connect once the daemon listens (S-cs.mnt appears before listen(2), so each change
 * in the directory is a new try), then drop the start sign if this client holds it.
 */
export function connectWhenListeningSync(s: Service, sign: Lock | null): number {
  let fd = -1;
  try {
    if (!waitInDirSync(s.md.dir, () => (fd = tryConnect(s)) >= 0, handshakeTimeout())) throw noServer(s);
    return fd;
  } finally {
    sign?.release();
  }
}

export async function connectWhenListening(s: Service, sign: Lock | null): Promise<number> {
  let fd = -1;
  try {
    if (!(await waitInDir(s.md.dir, () => (fd = tryConnect(s)) >= 0, handshakeTimeout()))) throw noServer(s);
    return fd;
  } finally {
    sign?.release();
  }
}
