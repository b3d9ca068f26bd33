// Identity per message, and attaching streams cs did not open: real processes,
// real users (root only) and the kernel's SCM_CREDENTIALS.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { Connection } from '../src/stream/connection';
import { finish, FIXTURES, freshRootEachTest, isRoot, killPids, openFds, testIf } from './helpers';

const NOBODY = 65534;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

freshRootEachTest();
let seq = 0;
const name = (what: string) => `/dev/fdp/local/${what}${process.pid}x${seq++}`;

function lines(child: ReturnType<typeof spawn>): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((l: string) => void)[] = [];
  let buf = '';
  child.stdout!.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(l);
      else queue.push(l);
    }
  });
  return () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r)));
}

describe('each record names the process that sent it', () => {
  testIf(isRoot && hasSetpriv, 'needs root and setpriv(1)')('root parent and a child that dropped to nobody over a socketpair: each sees the other, fds pass both ways', async () => {
    const before = openFds();
    const [mine, theirs] = Connection.pair();
    const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, join(FIXTURES, 'cred-child.js')], {
      env: process.env, // the test's CS_MOUNT_LOCAL, where the child makes its auth file
      stdio: ['ignore', 'pipe', 'pipe', theirs.fd],
    });
    theirs.destroy();
    const next = lines(child);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const ready = (await next()).split(' ');
    expect(ready).toEqual(['ready', String(child.pid), String(NOBODY), 'unix:']);
    // the socketpair's SO_PEERCRED names this process (its creator): only the message knows better
    expect(mine.peer.uid).toBe(0);
    const r = await mine.recvFds();
    expect(r.id).toMatchObject({ pid: child.pid, uid: NOBODY, gid: NOBODY });
    expect(readFileSync(`/proc/self/fd/${r.fds[0]}`, 'utf8')).toBe('from-child');
    closeSync(r.fds[0]);
    const fd = sys.memfd('from-parent');
    writeFileSync(`/proc/self/fd/${fd}`, 'from-parent');
    await mine.sendFds([fd]);
    closeSync(fd);
    expect(await next()).toBe(`${process.pid} 0 0 from-parent`);
    const done = await finish(child, 'cred-child', 10000);
    expect({ code: done.code, stderr }).toEqual({ code: 0, stderr: '' });
    mine.destroy();
    expect(openFds()).toEqual(before);
  });
});

describe('a client knows its server, whoever created the socket', () => {
  let tree = '';
  let pids: number[] = [];
  beforeEach(() => {
    tree = mkdtempSync(join(tmpdir(), 'cs-ident-'));
    process.env.CS_PATH = tree;
    pids = [];
  });
  afterEach(() => {
    killPids(pids);
    delete process.env.CS_PATH;
  });

  function addService(): { path: string; starts: string } {
    const svc = `ident${process.pid}x${seq++}`;
    const dir = join(tree, 'lib', 'cs', 'fdp', svc);
    mkdirSync(dir, { recursive: true });
    const starts = join(tree, `${svc}.starts`);
    writeFileSync(join(dir, 'server'), `#!/bin/sh\nexport CS_TEST_STARTS='${starts}'\nexec node '${join(FIXTURES, 'launch-server.js')}' "$@"\n`);
    chmodSync(join(dir, 'server'), 0o755);
    return { path: `/dev/fdp/local/${svc}`, starts };
  }

  const serverPid = (starts: string): number => {
    const [pid, how] = readFileSync(starts, 'utf8').trim().split(' ');
    pids.push(Number(pid));
    expect(how).toBe('inherited'); // this process created the listening socket
    return Number(pid);
  };

  test('open() of an auto-started service: conn.peer is the server process, not this one', async () => {
    const s = addService();
    const conn = await cs.open(s.path);
    const pid = serverPid(s.starts);
    expect(pid).not.toBe(process.pid);
    expect(conn.peer.pid).toBe(pid);
    conn.destroy();
  });

  test('a stream received in a record and a raw socketpair end: attached, used for bytes and fds, named by cspath', async () => {
    const s = addService();
    const before = openFds();
    const fd = cs.csopen(s.path);
    serverPid(s.starts);
    const [a, b] = Connection.pair();
    await a.sendFds([fd]);
    cs.csclose(fd);
    const r = await b.recvFds();
    expect(cs.cspath(r.fds[0])).toBe(s.path);
    const conn = Connection.attach(r.fds[0]);
    expect(conn.path).toBe(s.path);
    conn.write('echo me');
    const got = await new Promise<string>((res) => conn.once('data', (d) => res(String(d))));
    expect(got).toBe('echo me');
    // fds too, on the attached end of a pair
    const [p, q] = sys.socketpair(sys.SOCK_STREAM);
    expect(() => cs.cspath(q)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    const left = Connection.attach(p);
    const right = Connection.attach(q);
    const m = sys.memfd('x');
    await left.sendFds([m]);
    closeSync(m);
    const back = await right.recvFds();
    expect(back.id.pid).toBe(process.pid);
    expect(back.fds).toHaveLength(1);
    closeSync(back.fds[0]);
    for (const c of [conn, a, b, left, right]) c.destroy();
    expect(openFds()).toEqual(before);
  });

  test('cspath and attach fail with a code for what is not a connected AF_UNIX stream', () => {
    const rd = openSync('/dev/null', 'r');
    expect(() => cs.cspath(rd)).toThrow(expect.objectContaining({ code: 'ENOTSOCK' }));
    expect(() => Connection.attach(rd)).toThrow(expect.objectContaining({ code: 'ENOTSOCK' }));
    closeSync(rd);
    expect(() => cs.cspath(rd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    const l = cs.csopen(name('lis'), cs.CS_OPEN_CREATE);
    expect(() => Connection.attach(l)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    cs.csclose(l);
  });
});
