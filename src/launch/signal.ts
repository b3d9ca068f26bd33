// Signalling a service's server (`cs -k`): only a process the kernel ties to the
// service, and with it the process group it leads (a server cs started runs in a
// session of its own, so the children of a shell launch entry are signalled too).
import { csError, type CsError } from '../sys';
import { checkMountDir, processInfo, recordDoubt, recordedPid, type MountDir } from '../namespace';
import { listenerOf } from '../stream/listen';
import { isNetPath } from '../path';

/**
 * The pid of `md`'s running server: P-cs.mnt's pid, in a perm directory
 * checkMountDir trusts, believed only when a server answers on S-cs.mnt and the
 * record agrees with the kernel's word on who made that socket (recordDoubt; for
 * tcp and udp, the record alone). ESRCH otherwise, saying why.
 */
export function runningServer(md: MountDir, syscall = 'kill'): number {
  // a perm directory of a user who may not serve the service is refused (EPERM) before anything in it is read
  const pid = checkMountDir(md) ? recordedPid(md) : null;
  if (pid === null) throw csError('ESRCH', syscall, md.path, `no server is recorded in ${md.pidLink}`);
  // tcp and udp records name an address, not a socket to ask: their record alone is checked
  const net = isNetPath(md.path);
  const listener = net ? null : listenerOf(md);
  if (!net && listener === null) {
    throw csError('ESRCH', syscall, md.path, `the recorded server pid ${pid} is not running: nothing answers on ${md.socket}`);
  }
  const doubt = recordDoubt(md, pid, listener);
  if (doubt !== null) throw csError('ESRCH', syscall, md.path, `not believing the recorded pid ${pid}: ${doubt}`);
  return pid;
}

/**
 * What to signal for server `pid`: the process group it leads (-pid), else (null) the
 * process alone: a group the server does not lead (a server started by hand from a
 * shell) is not its to share.
 */
export function serverGroup(pid: number): number | null {
  return processInfo(pid)?.pgrp === pid ? -pid : null;
}

/** Send signal `num` to `md`'s running server and the process group it leads; returns its pid. */
export function signalService(md: MountDir, num: number): number {
  const pid = runningServer(md);
  try {
    process.kill(serverGroup(pid) ?? pid, num);
  } catch (e) {
    throw csError((e as CsError).code ?? 'EPERM', 'kill', md.path, `cannot signal server pid ${pid}`);
  }
  return pid;
}
