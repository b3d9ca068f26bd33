// `cs PATH` (open the service, starting it if needed, and print its canonical path)
// and `cs PATH COMMAND...` (run COMMAND with its stdin and stdout on the stream).
// Opening is asynchronous so that a start that takes a while can say so on a terminal.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { close, csError, dup, localInet } from '../sys';
import { handOver } from '../io';
import { open } from '../open';
import type { Connection } from '../stream';
import { isLocalHost } from '../net/hosts';
import { boundHere } from '../net/identity';
import type { NetSocket } from '../net/socket-stream';
import { printJson, printLines, withExitCode } from './output';

/** Shell conventions for a command that could not be run. */
const EXIT_NOT_FOUND = 127;
const EXIT_NOT_EXECUTABLE = 126;
/** Signals a user sends to cs that belong to the command it runs. */
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** An open that takes longer than this shows a progress line (stderr on a terminal only). */
export const PROGRESS_AFTER_MS = 300;

/**
 * Open `path` (starting its service if needed). When that takes longer than
 * PROGRESS_AFTER_MS and stderr is a terminal (and not --json), say so on stderr
 * until it is done; the line is erased afterwards.
 */
export async function openShowingProgress(path: string, json: boolean): Promise<Connection | NetSocket> {
  const tty = process.stderr.isTTY === true && !json;
  let shown = false;
  const timer = tty ? setTimeout(() => {
    shown = true;
    process.stderr.write(`cs: waiting for ${path} (starting its server)...`);
  }, PROGRESS_AFTER_MS) : null;
  let conn: Connection | NetSocket;
  try {
    conn = await open(path);
  } finally {
    if (timer) clearTimeout(timer);
    if (shown) process.stderr.write('\r\x1b[K');
  }
  if (conn.path.startsWith('/dev/udp/')) refuseUnboundDatagram(conn, path);
  return conn;
}

/**
 * A connected udp socket opens whether or not anything listens. On this host the
 * kernel's socket table tells: no socket bound at the peer's address and port is
 * ECONNREFUSED (what the first datagram would meet). Another host's cannot be checked.
 */
function refuseUnboundDatagram(conn: Connection | NetSocket, path: string): void {
  const peer = localInet(conn.fd, true);
  if (!isLocalHost(peer.address) || boundHere('udp', peer)) return;
  conn.destroy();
  throw csError('ECONNREFUSED', 'csopen', path, `no udp socket of this host is bound at ${conn.path}`);
}

export async function openAndPrint(path: string, json: boolean): Promise<void> {
  const conn = await openShowingProgress(path, json);
  try {
    if (json) printJson({ path: conn.path });
    else printLines([conn.path]);
  } finally {
    conn.destroy();
  }
}

/** Run `command` on a blocking copy of the stream (cs closes its own at once); resolves to its exit status. */
export async function runOnStream(path: string, command: string[], json: boolean): Promise<number> {
  const conn = await openShowingProgress(path, json);
  const fd = dup(conn.fd);
  conn.destroy();
  let child: ChildProcess;
  try {
    handOver(fd);
    child = spawn(command[0]!, command.slice(1), { stdio: [fd, fd, 'inherit'] });
  } finally {
    close(fd);
  }
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of FORWARDED_SIGNALS) process.on(s, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) => {
        const status = e.code === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
        reject(withExitCode(csError(e.code ?? 'EIO', 'spawn', command[0], 'cannot run the command'), status));
      });
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  } finally {
    for (const s of FORWARDED_SIGNALS) process.off(s, forward);
  }
}
