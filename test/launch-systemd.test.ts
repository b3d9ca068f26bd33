// serve() under systemd's own socket activator (systemd-socket-activate): the first
// connection starts the server, which reports READY=1 (and WATCHDOG=1, STOPPING=1)
// on NOTIFY_SOCKET; when it retires, the socket it did not make stays, and a socket
// held the way a .socket unit holds it accepts the next client, which starts a new server.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { createMountDir, mountDir } from '../src/namespace';
import { parsePath } from '../src/path';
import { FIXTURES, finish, freshRoot, removeRoot } from './helpers';

const ACTIVATOR = spawnSync('sh', ['-c', 'command -v systemd-socket-activate'], { encoding: 'utf8' }).stdout.trim();
const SERVER = join(FIXTURES, 'launch-server.js');

let root: string;
let seq = 0;
const children = new Set<ChildProcess>();
const fds: number[] = [];

beforeEach(() => {
  root = freshRoot();
});

afterEach(() => {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  for (const fd of fds.splice(0)) sys.close(fd);
  removeRoot(root);
});

/** A datagram socket bound like systemd's notification socket (a path, or '@name' abstract), and its NOTIFY_SOCKET value. */
function notifySocket(abstract: boolean): { fd: number; name: string } {
  const name = abstract ? `@cs-notify-${process.pid}-${seq++}` : join(root, `notify-${seq++}`);
  const fd = sys.socket(sys.AF_UNIX, sys.SOCK_DGRAM | sys.SOCK_NONBLOCK);
  fds.push(fd);
  sys.bind(fd, sys.unixPeerAddr(name));
  return { fd, name };
}

/** The next notification datagram on `fd`, waiting at most `ms` (the test is the supervisor here). */
async function nextNotification(fd: number, ms = 15000): Promise<string> {
  const buf = Buffer.alloc(4096);
  const from = Buffer.alloc(110);
  const deadline = Date.now() + ms;
  for (;;) {
    const n = sys.recvfromRaw(fd, buf, from);
    if (n >= 0) return buf.toString('utf8', 0, n);
    if (n !== -sys.EAGAIN) throw new Error(`recvfrom failed: ${n}`);
    if (Date.now() > deadline) throw new Error(`no notification within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Notifications until one that `stop` accepts, in order (bounded by nextNotification). */
async function notificationsUntil(fd: number, stop: (m: string) => boolean): Promise<string[]> {
  const seen: string[] = [];
  for (;;) {
    const m = await nextNotification(fd);
    seen.push(m);
    if (stop(m)) return seen;
  }
}

/** Resolve once the activator printed `text` on stderr (bounded). */
function saying(child: ChildProcess, text: string, ms = 15000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`activator did not say '${text}' in ${ms} ms: ${seen}`)), ms);
    child.stderr!.on('data', (d) => {
      seen += d;
      if (seen.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function roundTrip(path: string, text: string): Promise<string> {
  const conn = await cs.open(`${path}/test`);
  conn.write(text);
  let got = '';
  for await (const chunk of conn) {
    got += chunk;
    if (got.length >= text.length) break;
  }
  conn.destroy();
  return got;
}

/** The activator's command line: pass the variables the server needs, name the socket after the service. */
function activatorArgs(service: string, listen: string[]): string[] {
  return [...listen, `--fdname=${service}`, '-E', 'NOTIFY_SOCKET', '-E', 'CS_IDLE_MS', '-E', 'CS_MOUNT_LOCAL', '-E', 'WATCHDOG_USEC', process.execPath, SERVER];
}

(ACTIVATOR ? describe : describe.skip)(`under systemd-socket-activate${ACTIVATOR ? '' : ' (skipped: systemd-socket-activate is not installed; apt-get install systemd)'}`, () => {
  test('the first connection starts the server, which reports READY and WATCHDOG, and STOPPING when it retires; the socket stays', async () => {
    const service = `sd${process.pid}x${seq++}`;
    const path = `/dev/fdp/local/${service}`;
    const md = mountDir(parsePath(path), null);
    createMountDir(md);
    const notify = notifySocket(false);
    const activator = spawn(ACTIVATOR, [...activatorArgs(service, ['-l', md.socket]), path], {
      env: { ...process.env, NOTIFY_SOCKET: notify.name, CS_IDLE_MS: '500', WATCHDOG_USEC: '200000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(activator);
    await saying(activator, 'Listening on');
    const done = finish(activator, 'the activated server', 30000);

    expect(await roundTrip(path, 'first')).toBe('first');
    const first = await nextNotification(notify.fd);
    expect(first).toBe(`READY=1\nSTATUS=serving ${path}`);
    const rest = await notificationsUntil(notify.fd, (m) => m === 'STOPPING=1');
    expect(rest.slice(0, -1)).toEqual(expect.arrayContaining(['WATCHDOG=1']));
    expect(rest.slice(0, -1).every((m) => m === 'WATCHDOG=1')).toBe(true);

    // the activator exec'd the server, which retired: the socket it was given is not cs's to remove
    expect((await done).code).toBe(0);
    expect(lstatSync(md.socket).isSocket()).toBe(true);
    expect(existsSync(md.pidLink)).toBe(false);
  }, 60000);

  test('a socket held like a .socket unit survives each retired server and accepts the next client, which starts a new server', async () => {
    const service = `sd${process.pid}x${seq++}`;
    const path = `/dev/fdp/local/${service}`;
    const md = mountDir(parsePath(path), null);
    createMountDir(md);
    // what systemd does for ListenStream=<S-cs.mnt>: bind and listen once, keep it across service runs
    const listening = sys.socket(sys.AF_UNIX, sys.SOCK_STREAM);
    fds.push(listening);
    sys.bind(listening, sys.unixAddr(md.socket));
    sys.listen(listening, 16);
    const notify = notifySocket(true);
    const activate = () => {
      const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', 'sh', ACTIVATOR, ...activatorArgs(service, []), path], {
        env: { ...process.env, NOTIFY_SOCKET: notify.name, CS_IDLE_MS: '300' },
        stdio: ['ignore', 'pipe', 'pipe', listening],
      });
      children.add(child);
      return child;
    };

    const pids: number[] = [];
    for (const round of ['one', 'two']) {
      // the client connects before any server runs: the held socket queues it
      const answer = roundTrip(path, round);
      const activator = activate();
      const done = finish(activator, `server ${round}`, 30000);
      expect(await answer).toBe(round);
      expect(await nextNotification(notify.fd)).toBe(`READY=1\nSTATUS=serving ${path}`);
      expect(await nextNotification(notify.fd)).toBe('STOPPING=1');
      const finished = await done;
      expect(finished.code).toBe(0);
      pids.push(Number(/^ready (\d+) inherited$/mu.exec(finished.stdout)![1]));
      expect(lstatSync(md.socket).isSocket()).toBe(true);
      expect(existsSync(md.pidLink)).toBe(false);
    }
    expect(pids[0]).not.toBe(pids[1]);
  }, 90000);
});
