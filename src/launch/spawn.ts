// Starting a server process the cs way: detached in its own session, cwd the perm
// directory, stdin /dev/null, stdout and stderr appended to a fresh L-cs.mnt,
// `server <path>`. A cs server also gets its bound socket by systemd's socket
// activation protocol: fd 3, LISTEN_FDS=1, LISTEN_PID=<its pid>, LISTEN_FDNAMES=<service>.
import { spawn, type SpawnOptions } from 'node:child_process';
import { closeSync, fchownSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { csError } from '../sys';
import { formatPath, type CsPath } from '../path';
import { csPathDirs, type LaunchEntry } from '../namespace/entry';
import type { Service } from './service';
import { primaryGid, type MountDir } from '../namespace';
import { openFreshLog } from './log';

/**
 * LISTEN_PID must be the server's own pid, which exists only once the process does:
 * a shell exports its own pid ($$) and execs the server in its place, keeping that pid.
 */
const EXEC_WITH_OWN_PID = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"';

/** The path a server is started with: the service itself, without the client's `test`, `now`, where-to-start options and `/#arg`. */
export function serverPath(p: CsPath): string {
  return formatPath({ ...p, options: { ...p.options, test: false, now: false, local: false, remote: false, share: false }, arg: null });
}

/**
 * The client's environment for its server, with the namespace root and $CS_PATH made
 * absolute: the server runs in the perm directory and must compute the same mount
 * directory. A libcs server finds launch entries only beside $PATH (../lib/cs), so
 * <dir>/bin of each $CS_PATH directory goes first on its $PATH. Any LISTEN_* of the
 * client's own is dropped.
 */
function serverEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (env.CS_MOUNT_LOCAL) env.CS_MOUNT_LOCAL = resolve(env.CS_MOUNT_LOCAL);
  if (env.CS_PATH) {
    env.CS_PATH = csPathDirs().join(':');
    env.PATH = [...csPathDirs().map((d) => join(d, 'bin')), env.PATH].filter(Boolean).join(':');
  }
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  return env;
}

/** Options shared by every server start; `logFd` is L-cs.mnt, `extra` more descriptors from fd 3 on. */
export function serverSpawnOptions(s: Service, logFd: number, extra: number[] = []): SpawnOptions {
  return { cwd: s.md.dir, detached: true, env: serverEnvironment(), stdio: ['ignore', logFd, logFd, ...extra] };
}

/**
 * What the server is exec'd through so that it runs as the instance's user or group
 * when root starts it: `setpriv` sets the uid, gid and supplementary groups (the
 * user's, from the account database) before exec, which Node's spawn cannot (it drops
 * supplementary groups). A `user=N` server runs as N; a `group=G` one as root with
 * group G only. Empty when no change is needed.
 */
function runAs(md: MountDir): string[] {
  if (process.geteuid!() !== 0) return [];
  if (md.uid !== null && md.uid !== 0) {
    const gid = primaryGid(md.uid);
    return ['setpriv', `--reuid=${md.uid}`, `--regid=${gid ?? md.uid}`, gid === null ? '--clear-groups' : '--init-groups', '--'];
  }
  if (md.gid !== null && md.gid !== 0) return ['setpriv', `--regid=${md.gid}`, '--clear-groups', '--'];
  return [];
}

function entryOf(s: Service): LaunchEntry {
  if (!s.entry) throw csError('ENOENT', 'csopen', s.path.canonical, 'no launch entry');
  return s.entry;
}

/** Who a server runs as when root replaces another user's server (`cs restart`): that user, and the log is theirs. */
export interface ServerUser {
  uid: number;
  gid: number;
}

/**
 * Spawn the server of `s` with `listenFd` handed over as fd 3, with `env` added to its
 * environment; returns its pid. The caller keeps its own copy of listenFd.
 */
export function spawnServer(s: Service, listenFd: number, env: NodeJS.ProcessEnv = {}, user?: ServerUser): number {
  const entry = entryOf(s);
  const logFd = openFreshLog(s.md);
  try {
    if (user) fchownSync(logFd, user.uid, user.gid);
    const opts = { ...serverSpawnOptions(s, logFd, [listenFd]), ...user };
    opts.env = { ...opts.env, ...env, LISTEN_FDS: '1', LISTEN_FDNAMES: s.path.service! };
    // the old server's user, when given, is who the new one runs as already
    const child = spawn('/bin/sh', ['-c', EXEC_WITH_OWN_PID, ...(user ? [] : runAs(s.md)), entry.server, serverPath(s.path)], opts);
    child.on('error', () => {}); // reported below through the missing pid
    if (child.pid === undefined) throw csError('EAGAIN', 'spawn', s.path.canonical, `cannot start /bin/sh to run ${entry.server}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(logFd);
  }
}
