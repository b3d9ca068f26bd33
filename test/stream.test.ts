// fdp streams between real processes: fd passing, kernel identity, access
// rules, hostile peers, stale sockets, long socket paths, poll and paths.
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { spawn } from 'node:child_process';
import { finish, freshRootEachTest, isRoot, makeAuthFd, memfdHolding, testIf, openFds, runFixture, secondUser, startFixture } from './helpers';

let seq = 0;
const name = (what: string): `/dev/fdp/${string}` => `/dev/fdp/local/${what}${process.pid}x${seq++}`;

const root = freshRootEachTest();

function readAll(fd: number): string {
  const b = Buffer.alloc(4096);
  let s = '';
  for (;;) {
    const ready = cs.cspoll([{ fd, events: 'r' }], 5000);
    if (ready.length === 0) throw new Error('peer sent nothing within 5 s');
    const n = readSync(fd, b);
    if (n === 0) return s;
    s += b.toString('utf8', 0, n);
  }
}

/** One descriptor of each kind the server fixture uses: a file, a pipe, a socket, a memfd, a directory. */
function fiveKinds() {
  const work = mkdtempSync(join(tmpdir(), 'cs-fd-'));
  const [pipeR, pipeW] = sys.pipe();
  const [sockA, sockB] = sys.socketpair(sys.SOCK_STREAM);
  return { work, file: openSync(join(work, 'file'), 'w+'), pipeR, pipeW, sockA, sockB, mfd: sys.memfd('test'), dir: openSync(work, 'r') };
}

describe('fd passing between two processes', () => {
  test('a file, a pipe end, a socket, a memfd and a directory arrive and work; the server sees our kernel identity', async () => {
    const path = name('fdtest');
    await startFixture('stream-server.js', [path, 'fdtest']);
    const before = openFds();
    const { work, file, pipeR, pipeW, sockA, sockB, mfd, dir } = fiveKinds();

    const fd = cs.csopen(path);
    expect(cs.cspath(fd)).toBe(path);
    cs.cssend(fd, [file, pipeW, sockB, mfd, dir]);
    const reply = JSON.parse(readAll(fd));
    cs.csclose(fd);

    expect(reply.count).toBe(5);
    expect(reply.peer).toEqual({ hid: 0, pid: process.pid, uid: process.getuid!(), gid: process.getgid!(), groups: expect.any(Array) });
    expect(reply.recordId.pid).toBe(process.pid);
    expect(readFileSync(join(work, 'file'), 'utf8')).toBe('file-ok');
    const b = Buffer.alloc(64);
    expect(b.toString('utf8', 0, readSync(pipeR, b))).toBe('pipe-ok');
    expect(b.toString('utf8', 0, readSync(sockA, b))).toBe('sock-ok');
    expect(b.toString('utf8', 0, readSync(mfd, b, 0, 64, 0))).toBe('memfd-ok');
    expect(readFileSync(join(work, 'made-by-server'), 'utf8')).toBe('dir-ok');

    for (const f of [file, pipeR, pipeW, sockA, sockB, mfd, dir]) closeSync(f);
    rmSync(work, { recursive: true });
    expect(openFds()).toEqual(before);
  });

  test('the async API does the same round trip without blocking the event loop', async () => {
    const path = name('asyncfd');
    await startFixture('stream-server.js', [path, 'fdtest']);
    const before = openFds();
    const { work, file, pipeR, pipeW, sockA, sockB, mfd, dir } = fiveKinds();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);

    const conn = await cs.open(path);
    await conn.sendFds([file, pipeW, sockB, mfd, dir]);
    let text = '';
    for await (const chunk of conn) text += chunk;
    clearInterval(ticker);
    const reply = JSON.parse(text);
    expect(reply.peer.pid).toBe(process.pid);
    expect(conn.peer.uid).toBe(process.getuid!()); // the server's identity, from the kernel
    expect(readFileSync(join(work, 'file'), 'utf8')).toBe('file-ok');
    expect(ticks).toBeGreaterThan(0);

    conn.destroy(); // the peer's end has already ended and closed it, as with a net.Socket
    if (!conn.closed) await new Promise((r) => conn.once('close', r));
    for (const f of [file, pipeR, pipeW, sockA, sockB, mfd, dir]) closeSync(f);
    rmSync(work, { recursive: true });
    expect(openFds()).toEqual(before);
  });

  test('the sync server API accepts, receives and reports the kernel identity of a client process', async () => {
    const path = name('syncsrv');
    const listenFd = cs.csopen(path, cs.CS_OPEN_CREATE);
    const before = openFds();
    const client = runFixture('stream-peer.js', [path, 'too-many', '3']);
    expect(cs.cspoll([{ fd: listenFd, events: 'r' }], 5000)).toEqual([{ fd: listenFd, readable: true, writable: false }]);
    const { id, fds } = cs.csrecv(listenFd);
    expect(fds).toHaveLength(1);
    const conn = fds[0];
    expect(cs.cspath(conn)).toBe(path);
    expect(cs.cspoll([{ fd: conn, events: 'r' }], 5000)).toHaveLength(1);
    const got = cs.csrecv(conn, 3);
    expect(got.fds).toHaveLength(3);
    expect(got.id).toEqual(id);
    const out = JSON.parse((await client).stdout);
    expect(out.ok).toBe(true);
    expect(id.pid).toBeGreaterThan(0);
    expect(id.pid).not.toBe(process.pid);
    for (const f of got.fds) expect(statSync(`/proc/self/fd/${f}`).isFile()).toBe(true);
    for (const f of [...got.fds, conn]) cs.csclose(f);
    expect(openFds()).toEqual(before);
    cs.csclose(listenFd);
  });
});

describe('hostile peers', () => {
  test('a peer sending more fds than allowed gets an error, every fd it sent is closed, and the server keeps serving', async () => {
    const path = name('toomany');
    const listener = await cs.listen(path);
    const before = openFds();
    const peer = runFixture('stream-peer.js', [path, 'too-many', '3']); // one more than allowed
    const conn = (await listener.accept())!;
    await expect(conn.recvFds({ max: 2 })).rejects.toMatchObject({ code: 'EMSGSIZE', syscall: 'csrecv', path });
    conn.destroy();
    await new Promise((r) => conn.once('close', r));
    expect((await peer).code).toBe(0);
    expect(openFds()).toEqual(before);

    const good = runFixture('stream-peer.js', [path, 'too-many', '2']);
    const conn2 = (await listener.accept())!;
    const r = await conn2.recvFds({ max: 2 });
    expect(r.fds).toHaveLength(2);
    sys.closeAll(r.fds);
    conn2.destroy();
    await new Promise((res) => conn2.once('close', res));
    await good;
    expect(openFds()).toEqual(before);
    listener.close();
  });

  test.each([['garbage', 'EPROTO'], ['short', 'EPROTO']])('a peer that sends %s instead of an id record is dropped with %s, nothing leaks, serving goes on', async (mode, code) => {
    const path = name(mode);
    const listener = await cs.listen(path);
    const errors: string[] = [];
    listener.on('clientError', (e) => errors.push(e.code));
    const before = openFds();
    await runFixture('stream-peer.js', [path, mode]);
    const good = runFixture('stream-peer.js', [path, 'too-many', '1']);
    const conn = (await listener.accept())!;
    const r = await conn.recvFds();
    expect(r.fds).toHaveLength(1);
    sys.closeAll(r.fds);
    expect(errors).toEqual([code]);
    conn.destroy();
    await new Promise((res) => conn.once('close', res));
    await good;
    expect(openFds()).toEqual(before);
    listener.close();
  });

  test('the sync csrecv reports a garbage record and closes what came with it', async () => {
    const path = name('syncgarbage');
    const listenFd = cs.csopen(path, cs.CS_OPEN_CREATE);
    const before = openFds();
    const peer = runFixture('stream-peer.js', [path, 'garbage']);
    cs.cspoll([{ fd: listenFd, events: 'r' }], 5000);
    expect(() => cs.csrecv(listenFd)).toThrow(expect.objectContaining({ code: 'EPROTO' }));
    await peer;
    expect(openFds()).toEqual(before);
    cs.csclose(listenFd);
  });
});

describe('instances and access', () => {
  test('qualifiers name separate instances with separate perm directories', async () => {
    const base = name('qual');
    await startFixture('stream-server.js', [`${base}/staging`, 'name', 'staging']);
    await startFixture('stream-server.js', [`${base}/prod`, 'name', 'prod']);
    const a = await runFixture('stream-peer.js', [`${base}/staging`, 'open']);
    const b = await runFixture('stream-peer.js', [`${base}/prod`, 'open']);
    expect(JSON.parse(a.stdout).said).toBe('staging');
    expect(JSON.parse(b.stdout).said).toBe('prod');
    const svcDir = join(root(), 'fdp', cs.parsePath(base).host === 'local' ? readdirSync(join(root(), 'fdp'))[0] : '', base.split('/').pop()!);
    expect(readdirSync(svcDir).sort()).toEqual(['---prod', '---staging']);
  });

  testIf(isRoot, 'needs root to create a second user')('a user service is refused to another uid by directory mode and by kernel credentials', async () => {
    const other = secondUser();
    // root's own user service: the 0700 perm directory keeps the other user out
    const mine = name('mine');
    await startFixture('stream-server.js', [`${mine}/user`, 'name', 'root-only']);
    const refused = JSON.parse((await runFixture('stream-peer.js', [`${mine}/user=0`, 'open'], { asUser: other })).stdout);
    expect(refused).toMatchObject({ ok: false, code: 'EACCES' });
    const admitted = JSON.parse((await runFixture('stream-peer.js', [`${mine}/user`, 'open'])).stdout);
    expect(admitted).toEqual({ ok: true, said: 'root-only' });

    // the other user's service: root passes the directory but the server checks the kernel uid
    const theirs = name('theirs');
    await startFixture('stream-server.js', [`${theirs}/user`, 'name', 'theirs'], { asUser: other });
    const byRoot = JSON.parse((await runFixture('stream-peer.js', [`${theirs}/user=${other}`, 'open'])).stdout);
    expect(byRoot).toMatchObject({ ok: false, code: 'EACCES' });
    expect(byRoot.message).toMatch(/refused/);
    const byOwner = JSON.parse((await runFixture('stream-peer.js', [`${theirs}/user`, 'open'], { asUser: other })).stdout);
    expect(byOwner).toEqual({ ok: true, said: 'theirs' });
  });

  testIf(isRoot, 'needs root to create a second user')('a client of a user service refuses a server run by anyone else (a planted socket)', async () => {
    const other = secondUser();
    const planted = name('planted');
    await startFixture('stream-server.js', [`${planted}/user=${other}`, 'name', 'impostor']);
    const r = JSON.parse((await runFixture('stream-peer.js', [`${planted}/user`, 'open'], { asUser: other })).stdout);
    expect(r).toMatchObject({ ok: false, code: 'EACCES', message: expect.stringMatching(/runs as uid 0/) });
  });
});

describe('stale sockets and long paths', () => {
  test('a stale S-cs.mnt left by a kill -9ed server is taken over cleanly', async () => {
    const path = name('stale');
    const s = await startFixture('stream-server.js', [path, 'name', 'first']);
    await expect(cs.listen(path)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    s.child.kill('SIGKILL');
    await s.exited;
    const md = require('../src/launch/service').resolveService(path).md;
    expect(existsSync(md.socket)).toBe(true);
    const refused = JSON.parse((await runFixture('stream-peer.js', [path, 'open'])).stdout);
    expect(refused).toMatchObject({ ok: false, code: 'ENOENT', message: expect.stringMatching(/stale socket/) });
    await startFixture('stream-server.js', [path, 'name', 'second']);
    expect(JSON.parse((await runFixture('stream-peer.js', [path, 'open'])).stdout).said).toBe('second');
  });

  test('socket paths longer than sun_path (107 bytes) still bind and connect', async () => {
    const deep = join(root(), 'x'.repeat(60), 'y'.repeat(60));
    mkdirSync(deep, { recursive: true, mode: 0o1777 });
    const env = { CS_MOUNT_LOCAL: deep };
    const path = '/dev/fdp/local/' + 'long'.repeat(10);
    await startFixture('stream-server.js', [path, 'name', 'far'], { env });
    const said = JSON.parse((await runFixture('stream-peer.js', [path, 'open'], { env })).stdout);
    expect(said).toEqual({ ok: true, said: 'far' });
  });
});

describe('bad input', () => {
  test.each([
    ['', 'EINVAL', /empty/],
    ['dev/fdp/local/x', 'EINVAL', /absolute/],
    ['/dev/xyz/local/x', 'EINVAL', /protocol 'xyz'/],
    ['/dev/fdp/local/../x', 'EINVAL', /'\.\.'/],
    ['/dev/fdp/local/' + 's'.repeat(65), 'ENAMETOOLONG', /s{65}/],
    ['/dev/fdp/local/a\0b', 'EINVAL', /NUL/],
    ['/dev/fdp/otherhost.example/x', 'ENODEV', /otherhost\.example/],
    ['/dev/fdp/local', 'EISDIR', /directory/],
  ])('csopen(%j) fails with %s naming the bad part, leaking nothing', async (path, code, msg) => {
    const before = openFds();
    expect(() => cs.csopen(path)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(msg) }));
    await expect(cs.open(path)).rejects.toMatchObject({ code });
    expect(openFds()).toEqual(before);
  });

  test('opening a service nobody serves and nobody can start is ENOENT at once', async () => {
    const before = openFds();
    expect(() => cs.csopen(name('nobody'))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'connect' }));
    expect(openFds()).toEqual(before);
  });

  test('cssend and csrecv reject bad descriptors with Node-style errors', () => {
    expect(() => cs.cssend(-1, [])).toThrow(TypeError);
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    expect(() => cs.cssend(a, [123456])).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => cs.cspoll([{ fd: 999999, events: 'r' }], 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => cs.cspath(a)).toThrow(expect.objectContaining({ code: 'EINVAL' })); // a socket, but not a cs stream
    sys.close(a);
    sys.close(b);
  });
});

/** Fill the free descriptor numbers below `fd` (closed), so the next one made gets `fd`; returns the fillers. */
function nextIs(fd: number): number[] {
  const fillers: number[] = [];
  for (let f = openSync('/dev/null', 'r'); f !== fd; f = openSync('/dev/null', 'r')) fillers.push(f);
  closeSync(fd);
  return fillers;
}

describe('the stream registry', () => {
  test.each([['closeSync'], ['csclose']])('a listener fd number closed with %s and reused by a socketpair is not taken for the listener', (how) => {
    const before = openFds();
    const path = name('reuse');
    const lfd = cs.csopen(path, cs.CS_OPEN_CREATE);
    expect(cs.cspath(lfd)).toBe(path);
    sys.setNonBlocking(lfd, true);
    expect(() => cs.csrecv(lfd)).toThrow(expect.objectContaining({ code: 'EAGAIN' })); // no client yet; the registry has seen it listen
    if (how === 'csclose') cs.csclose(lfd);
    else closeSync(lfd);
    const fillers = nextIs(lfd);
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    expect(a).toBe(lfd);
    expect(() => cs.cspath(a)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    writeSync(b, Buffer.from('nope!'));
    expect(() => cs.csrecv(a)).toThrow(expect.objectContaining({ code: 'EPROTO', syscall: 'csrecv' })); // a record, not an accept
    for (const f of [a, b, ...fillers]) sys.close(f);
    expect(openFds()).toEqual(before);
  });

  test('an fdp fd number closed without csclose and reused by a tcp socket: cssend refuses it as tcp', () => {
    const before = openFds();
    const lfd = cs.csopen(name('reusetcp'), cs.CS_OPEN_CREATE);
    closeSync(lfd);
    const fillers = nextIs(lfd);
    const tcp = sys.socket(sys.AF_INET, sys.SOCK_STREAM);
    expect(tcp).toBe(lfd);
    expect(() => cs.cssend(tcp, [])).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP', syscall: 'cssend' }));
    for (const f of [tcp, ...fillers]) sys.close(f);
    expect(openFds()).toEqual(before);
  });
});

describe('records on the fast path (no registry check per record)', () => {
  test('a stream that carried records, closed without csclose and its number reused by a socketpair: a record there names its real sender, not the old peer', async () => {
    const path = name('reuseid');
    const server = await startFixture('record-echo.js', [path]);
    const serverPid = Number(server.line.split(' ')[1]);
    makeAuthFd();
    const before = openFds();
    const fd = cs.csopen(path);
    const out = memfdHolding('hi');
    cs.cssend(fd, [out]);
    const back = cs.csrecv(fd, 1);
    expect(back.id.pid).toBe(serverPid);
    expect(readFileSync(`/proc/self/fd/${back.fds[0]}`, 'utf8')).toBe(`got:hi from:${process.pid}`);
    closeSync(back.fds[0]);
    closeSync(fd); // not csclose: the registry still holds the entry, which now trusts the number
    const fillers = nextIs(fd);
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    expect(a).toBe(fd);
    cs.cssend(b, [out]);
    const got = cs.csrecv(a, 1);
    expect(got.id).toMatchObject({ pid: process.pid, uid: process.geteuid!(), gid: process.getegid!() });
    expect(readFileSync(`/proc/self/fd/${got.fds[0]}`, 'utf8')).toBe('hi');
    expect(() => cs.cspath(a)).toThrow(expect.objectContaining({ code: 'EINVAL' })); // the stale entry is gone
    for (const f of [got.fds[0], out, a, b, ...fillers]) closeSync(f);
    expect(openFds()).toEqual(before);
  });

  test('a receive that waited makes the next ones poll first: records queued meanwhile still come one by one, in order, with their descriptors', async () => {
    const path = name('waitfirst');
    makeAuthFd();
    const before = openFds();
    const peer = spawn(process.execPath, ['-e', `
      const fs = require('node:fs');
      const cs = require(${JSON.stringify(join(__dirname, '..', 'dist', 'src'))});
      const sys = require(${JSON.stringify(join(__dirname, '..', 'dist', 'src', 'sys'))});
      const l = cs.csopen(process.argv[1], cs.CS_OPEN_CREATE);
      console.log('ready');
      const conn = cs.csrecv(l).fds[0];
      const send = (text) => { const m = sys.memfd('n'); fs.writeSync(m, text); cs.cssend(conn, [m]); fs.closeSync(m); };
      setTimeout(() => {
        send('first');
        fs.closeSync(cs.csrecv(conn, 1).fds[0]);
        for (let i = 0; i < 20; i++) send(String(i));
        cs.csrecv(conn, 1); // until the client closes
      }, 200);`, path], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = finish(peer, 'record peer', 20000);
    await new Promise((resolve) => peer.stdout!.once('data', resolve));
    const fd = cs.csopen(path);
    const first = cs.csrecv(fd, 1); // waits about 200 ms for it
    expect(readFileSync(`/proc/self/fd/${first.fds[0]}`, 'utf8')).toBe('first');
    cs.cssend(fd, [first.fds[0]]);
    closeSync(first.fds[0]);
    const texts: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = cs.csrecv(fd, 1);
      expect(r.fds).toHaveLength(1);
      expect(r.id.pid).toBe(peer.pid);
      texts.push(readFileSync(`/proc/self/fd/${r.fds[0]}`, 'utf8'));
      closeSync(r.fds[0]);
    }
    expect(texts).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    cs.csclose(fd);
    expect((await done).code).not.toBeNull();
    expect(openFds()).toEqual(before);
  });
});

describe('bursts', () => {
  test('5000 opens with 512 in flight against a server process all succeed (a full backlog is waited out), leaking nothing', async () => {
    const path = name('burst');
    await startFixture('stream-server.js', [path, 'name', 'hi']);
    const before = openFds();
    let next = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (next < 5000) {
        next++;
        try {
          (await cs.open(path)).destroy();
        } catch (e) {
          failures.push((e as Error & { code?: string }).code ?? String(e));
        }
      }
    };
    await Promise.all(Array.from({ length: 512 }, worker));
    expect(failures).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 100)); // destroy() closes on the next turn
    expect(openFds()).toEqual(before);
  }, 120_000);
});

describe('waiting', () => {
  test('cspoll times out with nothing ready and reports readiness when data arrives', () => {
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    expect(cs.cspoll([{ fd: a, events: 'r' }], 20)).toEqual([]);
    expect(cs.cspoll([{ fd: a, events: 'rw' }], 0)).toEqual([{ fd: a, readable: false, writable: true }]);
    sys.writeRaw(b, Buffer.from('x'));
    expect(cs.cspoll([{ fd: a, events: 'r' }, { fd: b, events: 'r' }], 1000)).toEqual([{ fd: a, readable: true, writable: false }]);
    sys.close(a);
    sys.close(b);
  });

  test('an AbortSignal ends a wait for a connection; the next client goes to the next accept', async () => {
    const path = name('abortaccept');
    const listener = await cs.listen(path);
    const ac = new AbortController();
    const wait = listener.accept({ signal: ac.signal });
    ac.abort();
    await expect(wait).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: ac.signal.reason }); // Node's, not the DOMException's code 20
    const client = await cs.open(path);
    const server = (await listener.accept())!;
    expect(server.peer.pid).toBe(process.pid);
    client.destroy();
    server.destroy();
    listener.close();
  });

  test('a signal given to listen() or serve() closes what they made; close() returns a promise; closed is a boolean', async () => {
    const path = name('abortlisten');
    const ac = new AbortController();
    const listener = await cs.listen(path, { signal: ac.signal });
    const socket = join(cs.listServices(path)[0]!.dir, 'S-cs.mnt');
    expect([listener.closed, existsSync(socket)]).toEqual([false, true]);
    const closing = new Promise((r) => listener.once('close', r));
    ac.abort();
    await closing;
    expect([listener.closed, existsSync(socket)]).toEqual([true, false]);
    await expect(listener.close()).resolves.toBeUndefined(); // again: nothing to do
    await expect(cs.listen(path, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    expect(existsSync(socket)).toBe(false);

    const stop = new AbortController();
    const server = await cs.serve(path, (conn) => conn.end(), { signal: stop.signal });
    expect([server.closed, existsSync(socket)]).toEqual([false, true]);
    stop.abort();
    await server.whenClosed;
    expect([server.closed, server.listener.closed, existsSync(socket)]).toEqual([true, true, false]);
    await expect(cs.serve(path, (conn) => conn.end(), { signal: stop.signal })).rejects.toMatchObject({ code: 'ABORT_ERR' });

    const again = await cs.serve(path, (conn) => conn.end());
    const closed = again.close();
    expect(again.closed).toBe(true);
    await expect(closed).resolves.toBeUndefined();
  });

  test('an AbortSignal ends a wait for a record and releases the watcher', async () => {
    const path = name('abort');
    const listener = await cs.listen(path);
    const client = await cs.open(path);
    const server = (await listener.accept())!;
    const ac = new AbortController();
    const wait = server.recvFds({ signal: ac.signal });
    const reason = new Error('no longer wanted');
    ac.abort(reason);
    await expect(wait).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    await client.sendFds([]);
    expect((await server.recvFds()).fds).toEqual([]);
    client.destroy();
    server.destroy();
    listener.close();
  });
});
