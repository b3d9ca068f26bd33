// `cs restart` with real processes: a service auto-started from a launch entry is
// replaced again and again while clients connect in a tight loop, and none is refused,
// reset or left unanswered; only the owner or root may restart; the old server
// finishes a request in flight before it exits, and is cut off at its drain deadline;
// a new server that never gets ready leaves the old one serving; restarts at once
// run one after the other.
import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, readSync, writeFileSync, writeSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { FIXTURES, fdCount, finish, isRoot, openFds, secondUser, testIf, type Finished, serviceTreeEachTest } from './helpers';

const CLI = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');

let seq = 0;
// mode 0755: the second user looks for the launch entry too
const ctx = serviceTreeEachTest('cs-restart-', { mode: 0o755, env: { CS_DRAIN_MS: undefined } });

/** A launch entry on the test CS_PATH running restart-server.js; `env` is exported to it. */
function addService(env: Record<string, string> = {}): { path: string; entry: string } {
  const name = `rs${process.pid}x${seq++}`;
  const dir = join(ctx.tree, 'lib', 'cs', 'fdp', name);
  mkdirSync(dir, { recursive: true });
  const entry = join(dir, 'server');
  writeEntry(entry, env);
  return { path: `/dev/fdp/local/${name}`, entry };
}

function writeEntry(entry: string, env: Record<string, string>, run = `node '${join(FIXTURES, 'restart-server.js')}'`): void {
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v}'\n`).join('');
  writeFileSync(entry, `#!/bin/sh\n${exports}exec ${run} "$@"\n`);
  chmodSync(entry, 0o755);
}

/** Run the cs command (as `asUser` when given); bounded. */
function csCommand(args: string[], asUser?: number, ms = 60000): Promise<Finished> {
  const [cmd, argv] = asUser === undefined
    ? [process.execPath, [CLI, ...args]]
    : ['setpriv', [`--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups', process.execPath, CLI, ...args]];
  const child = spawn(cmd, argv, { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  return finish(child, `cs ${args.join(' ')}`, ms);
}

interface Restart {
  path: string;
  oldPid: number;
  newPid: number;
  drained: boolean;
}

async function restart(path: string, extra: string[] = []): Promise<Restart> {
  const r = await csCommand(['--json', 'restart', ...extra, path]);
  if (r.code !== 0) throw new Error(`cs restart failed (${r.code}): ${r.stderr}`);
  const done = JSON.parse(r.stdout) as Restart;
  ctx.servers.push(done.oldPid, done.newPid);
  return done;
}

/** Bound a wait: reject naming `what` after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Send one request line on `conn` and read the answer line ('' when the server closed first). */
async function ask(conn: Duplex, line: string, ms = 15000): Promise<string> {
  conn.setEncoding('utf8');
  conn.write(`${line}\n`);
  const answer = (async () => {
    let got = '';
    for await (const chunk of conn) {
      got += chunk;
      if (got.includes('\n')) break;
    }
    return got.split('\n')[0]!;
  })();
  return within(answer, ms, `answer to '${line}'`);
}

/** One request on a new connection (never starting the server: `test`): the answering pid. */
async function request(path: string, word: string): Promise<number> {
  const conn = await within(cs.open(`${path}/test`), 15000, 'open');
  try {
    const answer = await ask(conn, word);
    const m = /^(\d+) (.*)$/.exec(answer);
    if (!m || m[2] !== word) throw new Error(`asked '${word}', got '${answer}'`);
    return Number(m[1]);
  } finally {
    conn.destroy();
  }
}

/** The perm directory of service `path`: a plain one, or with a `user=<uid>` option. */
function permDir(path: string): string {
  const m = /^\/dev\/fdp\/local\/([^/]+)(?:\/user=(\d+))?$/.exec(path)!;
  return join(ctx.root, 'fdp', readdirSync(join(ctx.root, 'fdp'))[0]!, m[1]!, m[2] === undefined ? '--' : `-${m[2]}-`);
}

/** The recorded server pid. */
function recorded(path: string): number {
  return Number(/\/proc\/(\d+)$/.exec(readlinkSync(join(permDir(path), 'P-cs.mnt')))![1]);
}

/** Read one line from blocking stream `fd`, each read bounded by 15 s. */
function readLine(fd: number): string {
  const buf = Buffer.alloc(256);
  let got = '';
  while (!got.includes('\n')) {
    if (cs.cspoll([{ fd, events: 'r' }], 15000).length === 0) throw new Error('no answer within 15 s');
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    got += buf.toString('utf8', 0, n);
  }
  return got.split('\n')[0]!;
}

/** Resolves with the pid of the first server other than `old` that answers a request on `path` (bounded). */
async function replacement(path: string, old: number): Promise<number> {
  let answeredBy = old;
  for (const deadline = Date.now() + 60000; answeredBy === old && Date.now() < deadline;) answeredBy = await request(path, 'meanwhile');
  return answeredBy;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/** Pids of the processes running the restart test server for `path`. */
function serversOf(path: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.endsWith('restart-server.js')) && argv.includes(path) && alive(Number(pid))) found.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** The descriptors `pid` holds once it settled (a client's close reaches the server a moment after the client's). */
async function settledFdCount(pid: number): Promise<number> {
  let last = fdCount(pid);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = fdCount(pid);
    if (now === last) return now;
    last = now;
  }
  return last;
}

/** Start the service the way a client does (auto-start, no `test`): the server's pid. */
async function firstServer(path: string): Promise<number> {
  const conn = await within(cs.open(path), 15000, 'start');
  try {
    const pid = Number((await ask(conn, 'hello')).split(' ')[0]);
    ctx.servers.push(pid);
    return pid;
  } finally {
    conn.destroy();
  }
}

test('twenty restarts under clients connecting in a tight loop: no connect fails, every request is answered', async () => {
  const { path } = addService();
  const first = await firstServer(path);
  const fdsBefore = openFds();
  const serverFds = await settledFdCount(first);
  const CLIENTS = 4;
  const outcome = { sent: 0, answered: 0, failed: [] as string[] };
  const answeredBy = new Set<number>();
  let running = true;
  const client = async (id: number) => {
    for (let n = 0; running; n++) {
      outcome.sent++;
      try {
        answeredBy.add(await request(path, `c${id}-${n}`));
        outcome.answered++;
      } catch (e) {
        outcome.failed.push(`${(e as NodeJS.ErrnoException).code ?? ''} ${(e as Error).message}`);
      }
    }
  };
  const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
  const chain: Restart[] = [];
  try {
    for (let i = 0; i < 20; i++) chain.push(await restart(path));
  } finally {
    running = false;
    await Promise.all(clients);
  }
  expect(outcome.failed).toEqual([]);
  expect(outcome.answered).toBe(outcome.sent);
  expect(outcome.sent).toBeGreaterThan(100);
  // each restart replaced the server the one before started, and every old one drained and exited
  expect(chain.map((r) => r.oldPid)).toEqual([first, ...chain.slice(0, -1).map((r) => r.newPid)]);
  expect(new Set(chain.map((r) => r.newPid)).size).toBe(20);
  expect(chain.every((r) => r.drained)).toBe(true);
  const last = chain[chain.length - 1]!.newPid;
  expect(serversOf(path)).toEqual([last]);
  expect(recorded(path)).toBe(last);
  // clients were answered by many of the servers along the way
  expect(answeredBy.size).toBeGreaterThan(10);
  expect(await request(path, 'after')).toBe(last);
  expect(openFds()).toEqual(fdsBefore);
  expect(await settledFdCount(last)).toBe(serverFds);
}, 300000);

test('a request in flight is answered by the old server, which exits after it; new clients meet the new one', async () => {
  const { path } = addService();
  const first = await firstServer(path);
  const conn = await cs.open(`${path}/test`);
  try {
    conn.write('hold patient\n');
    const restarted = restart(path);
    // the new server answers, and the old one had time to get its signal: only then is the request answered
    const newPid = await replacement(path, first);
    expect(newPid).toBe(recorded(path));
    await new Promise((r) => setTimeout(r, 1500));
    expect(alive(first)).toBe(true);
    expect(await ask(conn, 'release')).toBe(`${first} patient`);
    const done = await within(restarted, 60000, 'restart');
    expect(done).toMatchObject({ oldPid: first, newPid, drained: true });
    expect(alive(first)).toBe(false);
    expect(serversOf(path)).toEqual([newPid]);
  } finally {
    conn.destroy();
  }
}, 90000);

test('a client the old server accepted is served by it even when its rendezvous ends after the restart', async () => {
  const { path } = addService({ CS_TIMEOUT_MS: '60000' });
  const first = await firstServer(path);
  const fd = sys.socket(sys.AF_UNIX, sys.SOCK_STREAM);
  let open = true;
  try {
    sys.connect(fd, sys.unixAddr(join(permDir(path), 'S-cs.mnt')));
    // the greeting byte: the old server accepted this client and waits for its half of the rendezvous
    expect(cs.cspoll([{ fd, events: 'r' }], 15000)).toHaveLength(1);
    expect(readSync(fd, Buffer.alloc(1), 0, 1, null)).toBe(1);
    const restarted = restart(path);
    const newPid = await replacement(path, first);
    await new Promise((r) => setTimeout(r, 1500));
    cs.cssend(fd, []);
    writeSync(fd, 'late\n');
    expect(readLine(fd)).toBe(`${first} late`);
    sys.close(fd);
    open = false;
    expect(await within(restarted, 60000, 'restart')).toMatchObject({ oldPid: first, newPid, drained: true });
  } finally {
    if (open) sys.close(fd);
  }
}, 90000);

test('a connection still open at the drain deadline is closed and the old server exits then', async () => {
  const { path } = addService({ CS_DRAIN_MS: '500' });
  const first = await firstServer(path);
  const conn = await cs.open(`${path}/test`);
  try {
    const stuck = ask(conn, 'slow 30000 never', 20000);
    const started = Date.now();
    const done = await restart(path);
    expect(done.drained).toBe(true);
    expect(await stuck).toBe('');
    expect(Date.now() - started).toBeLessThan(20000);
    expect(alive(first)).toBe(false);
    expect(await request(path, 'next')).toBe(done.newPid);
  } finally {
    conn.destroy();
  }
}, 60000);

test('a new server that exits before it is ready leaves the old one serving, with its record', async () => {
  const { path, entry } = addService();
  const first = await firstServer(path);
  writeEntry(entry, {}, "sh -c 'echo broken build >&2; exit 3'");
  const r = await csCommand(['restart', path]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^cs: ECONNRESET: .*restart '${path}': the new server \\(pid \\d+\\) exited before it was ready; server pid ${first} goes on serving`));
  expect(r.stderr).toContain('broken build');
  expect(recorded(path)).toBe(first);
  expect(await request(path, 'still')).toBe(first);
}, 60000);

const rootOnly = testIf(isRoot, 'needs root for a second user');

rootOnly('another user may not restart the service (EPERM naming the path); the kernel refuses the socket copy too', async () => {
  const { path } = addService();
  const first = await firstServer(path);
  const other = secondUser();
  const r = await csCommand(['restart', path], other);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`^cs: EPERM: .*restart '${path}': server pid ${first} runs as uid 0: only its owner or root may restart it`));
  // the check above is cs's; the kernel's own: pidfd_getfd of the server's socket as that user
  const probe = await new Promise<Finished>((resolve) => {
    const code = `const s=require(${JSON.stringify(join(__dirname, '..', 'dist', 'src', 'sys'))});`
      + `try{s.pidfdGetfd(s.pidfdOpen(${first}),3);console.log('copied')}catch(e){console.log(e.code)}`;
    const child = spawn('setpriv', [`--reuid=${other}`, `--regid=${other}`, '--clear-groups', process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    void finish(child, 'pidfd_getfd probe', 20000).then(resolve);
  });
  expect(probe.stdout.trim()).toBe('EPERM');
  expect(recorded(path)).toBe(first);
  expect(await request(path, 'untouched')).toBe(first);
}, 60000);

rootOnly('root restarts another user\'s service: the new server runs as that user, who owns its record and log', async () => {
  const other = secondUser();
  const path = `${addService().path}/user=${other}`;
  const start = await csCommand([path], other);
  expect(start.code).toBe(0);
  const first = recorded(path);
  ctx.servers.push(first);
  const done = await restart(path);
  expect(done.oldPid).toBe(first);
  const uidOf = (pid: number) => Number(/^Uid:\s+\d+\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  expect(uidOf(done.newPid)).toBe(other);
  expect(lstatSync(join(permDir(path), 'P-cs.mnt')).uid).toBe(other);
  expect(lstatSync(join(permDir(path), 'L-cs.mnt')).uid).toBe(other);
  // the service admits only that user: its rendezvous with the new server
  expect((await csCommand(['--json', '-q', path], other)).code).toBe(0);
  // and that user may restart it again, as its owner
  const again = await csCommand(['--json', 'restart', path], other);
  expect(again.code).toBe(0);
  const next = JSON.parse(again.stdout) as Restart;
  ctx.servers.push(next.newPid);
  expect(next.oldPid).toBe(done.newPid);
  expect(recorded(path)).toBe(next.newPid);
}, 120000);

test('two restarts at once run one after the other', async () => {
  const slowOnce = join(ctx.tree, 'slow-once');
  const { path } = addService({ CS_TEST_SLOW_ONCE: slowOnce });
  const first = await firstServer(path);
  // the first replacement is slow to get ready: a second restart must not take it for the server meanwhile
  writeFileSync(slowOnce, '');
  const [a, b] = await Promise.all([restart(path), restart(path)]);
  const [earlier, later] = a.oldPid === first ? [a, b] : [b, a];
  expect(earlier.oldPid).toBe(first);
  expect(later.oldPid).toBe(earlier.newPid);
  expect(serversOf(path)).toEqual([later.newPid]);
  expect(await request(path, 'one')).toBe(later.newPid);
}, 120000);

test('a tcp service is restarted the same way: its port never closes', async () => {
  const name = `rt${process.pid}x${seq++}`;
  const dir = join(ctx.tree, 'lib', 'cs', 'tcp', name);
  mkdirSync(dir, { recursive: true });
  writeEntry(join(dir, 'server'), {});
  const path = `/dev/tcp/local/${name}`;
  const first = await firstServer(path);
  const done = await restart(path);
  expect(done).toMatchObject({ oldPid: first, drained: true });
  expect(await request(path, 'over tcp')).toBe(done.newPid);
  expect(alive(first)).toBe(false);
}, 60000);

test('errors: a service that is not running (ESRCH), no launch entry (ENOENT), not a path (usage)', async () => {
  const { path } = addService();
  const notRunning = await csCommand(['restart', path]);
  expect(notRunning.code).toBe(1);
  expect(notRunning.stderr).toMatch(new RegExp(`^cs: ESRCH: .*restart '${path}': no server is recorded`));
  const none = await csCommand(['restart', '/dev/fdp/local/nosuchservice']);
  expect(none.code).toBe(1);
  expect(none.stderr).toMatch(/^cs: ENOENT: .*restart '\/dev\/fdp\/local\/nosuchservice': no launch entry/);
  const usage = await csCommand(['restart', 'nonsense']);
  expect(usage.code).toBe(2);
}, 60000);
