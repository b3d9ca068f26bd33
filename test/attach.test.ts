// Streams cs did not open in the process that uses them, wrapped with Connection.attach:
// one received in a record, one a child inherited through spawn's stdio, and ones handed
// the systemd way (LISTEN_FDS: a connected fd, an accepted connection). Each carries
// records and bytes both ways and cspath names it; a stream that is not a cs stream is
// attached by its address while cspath fails with EINVAL (ENOTSOCK for a pipe).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import type { Connection, Listener } from '../src';
import { FIXTURES, finish, freshRootEachTest, makeAuthFd, memfdHolding, openFds, startFixture } from './helpers';

freshRootEachTest();
let seq = 0;
const service = () => `/dev/fdp/local/attach${process.pid}x${seq++}` as const;
const DIST = join(__dirname, '..', 'dist', 'src');
const CHILD = join(FIXTURES, 'attach-child.js');

/** attach-child.js with `fd` as its fd 3: inherited, or handed as LISTEN_FDS (LISTEN_PID set by the shell that execs it). */
function attachChild(fd: number, how: 'inherit' | 'listen-fds', ...args: string[]): ChildProcess {
  // jest's process.env is not the one a child inherits by default: hand it over (CS_MOUNT_LOCAL)
  const opts = { env: process.env, stdio: ['ignore', 'pipe', 'pipe', fd] as ('ignore' | 'pipe' | number)[] };
  if (how === 'inherit') return spawn(process.execPath, [CHILD, how, ...args], opts);
  return spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=connection exec "$0" "$@"', process.execPath, CHILD, how, ...args], opts);
}

async function childLines(child: ChildProcess): Promise<unknown[]> {
  const done = await finish(child, 'attach-child', 10000);
  expect({ code: done.code, stderr: done.stderr }).toEqual({ code: 0, stderr: '' });
  return done.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

function bytes(conn: Connection, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no ${n} bytes within 5 s (got '${got}')`)), 5000);
    const onData = (d: Buffer) => {
      got += d;
      if (got.length < n) return;
      clearTimeout(timer);
      conn.off('data', onData);
      resolve(got);
    };
    conn.on('data', onData);
  });
}

async function recordEcho(path: string): Promise<number> {
  const s = await startFixture('record-echo.js', [path]);
  return Number(s.line.split(' ')[1]);
}

test('a stream received in a record: attached by the receiver, named by cspath, records and bytes both ways', async () => {
  const path = service();
  const serverPid = await recordEcho(path);
  makeAuthFd();
  const before = openFds();
  const [mine, theirs] = cs.Connection.pair();
  // another process opens the stream and sends it over
  const opener = spawn(process.execPath, ['-e', `const cs = require(${JSON.stringify(DIST)}); const fd = cs.csopen(process.argv[1]); cs.cssend(3, [fd]);`, path], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe', theirs.fd],
  });
  theirs.destroy();
  const received = await mine.recvFds();
  expect(received.id.pid).toBe(opener.pid);
  expect((await finish(opener, 'opener', 10000)).code).toBe(0);
  const fd = received.fds[0];
  expect(cs.cspath(fd)).toBe(path);
  const conn = cs.Connection.attach(fd);
  expect(conn.path).toBe(path);

  const out = memfdHolding('from-receiver');
  await conn.sendFds([out]);
  closeSync(out);
  const r = await conn.recvFds();
  expect(r.id.pid).toBe(serverPid);
  // the server's record names this process, which sent it, not the one that opened the stream
  expect(readFileSync(`/proc/self/fd/${r.fds[0]}`, 'utf8')).toBe(`got:from-receiver from:${process.pid}`);
  closeSync(r.fds[0]);
  conn.write('abc');
  expect(await bytes(conn, 3)).toBe('abc');
  conn.destroy();
  mine.destroy();
  expect(openFds()).toEqual(before);
});

test.each(['inherit', 'listen-fds'] as const)('a connected stream a child got by %s: attached, named by cspath, records and bytes both ways', async (how) => {
  const path = service();
  const serverPid = await recordEcho(path);
  const fd = cs.csopen(path);
  const child = attachChild(fd, how);
  cs.csclose(fd);
  const [named, used] = await childLines(child);
  expect(named).toEqual({ path, cspath: path });
  expect(used).toEqual({ pid: child.pid, record: `got:from-child from:${child.pid}`, recordFrom: serverPid, echoed: 'bytes-from-child' });
});

test('an accepted connection handed as LISTEN_FDS: the child serves it, named by its own address', async () => {
  const path = service();
  const listener = (await cs.listen(path)) as Listener;
  try {
    const [client, accepted] = await Promise.all([cs.open(path), listener.accept()]);
    const child = attachChild(accepted!.fd, 'listen-fds');
    accepted!.destroy();
    const lines = childLines(child);
    const r = await client.recvFds();
    expect(r.id.pid).toBe(child.pid);
    expect(readFileSync(`/proc/self/fd/${r.fds[0]}`, 'utf8')).toBe('from-child');
    closeSync(r.fds[0]);
    const out = memfdHolding('to-child');
    await client.sendFds([out]);
    closeSync(out);
    client.write(await bytes(client, 'bytes-from-child'.length));
    const [named, used] = await lines;
    expect(named).toEqual({ path, cspath: path });
    expect(used).toEqual({ pid: child.pid, record: 'to-child', recordFrom: process.pid, echoed: 'bytes-from-child' });
    client.destroy();
  } finally {
    await listener.close();
  }
});

test('not a cs stream: a socket outside the namespace is attached as unix:<address> and cspath fails EINVAL; a pipe is ENOTSOCK', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-attach-'));
  try {
    const sock = join(dir, 'plain.sock');
    await startFixture('unix-plain.js', [sock]);
    const fd = cs.csopen(`unix:${sock}`);
    const child = attachChild(fd, 'inherit', 'name-only');
    cs.csclose(fd);
    expect(await childLines(child)).toEqual([{ path: `unix:${sock}`, cspath: 'EINVAL' }]);

    const [r, w] = sys.pipe();
    const piped = attachChild(r, 'inherit', 'name-only');
    sys.close(r);
    sys.close(w);
    const done = await finish(piped, 'attach-child', 10000);
    expect(done.code).toBe(1);
    expect(done.stderr).toMatch(/^ENOTSOCK /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
