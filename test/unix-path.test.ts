// Sockets outside the namespace, named `unix:<socket path>`: a plain Node net server
// reached raw, a cs listener there reached with the rendezvous (async and C-shaped),
// descriptors both ways, and connect failures in Node's shape with the path.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import type { Connection, Listener } from '../src';
import { finish, freshRootEachTest, memfdHolding, openFds, startFixture } from './helpers';

const DIST = join(__dirname, '..', 'dist', 'src');

freshRootEachTest();
let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cs-unix-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  delete process.env.CS_TIMEOUT_MS;
});

function data(conn: Connection): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no data within 5 s')), 5000);
    conn.once('data', (d) => {
      clearTimeout(timer);
      resolve(String(d));
    });
  });
}

describe('raw: a plain connected stream', () => {
  test('a Node net server on a path: bytes both ways, peer from SO_PEERCRED, cspath names it', async () => {
    const sock = join(dir, 'plain.sock');
    const server = await startFixture('unix-plain.js', [sock]);
    const pid = Number(server.line.split(' ')[1]);
    const conn = await cs.open(`unix:${sock}`);
    expect(conn.path).toBe(`unix:${sock}`);
    expect(conn.peer).toMatchObject({ pid, uid: process.geteuid!() });
    expect(cs.cspath(conn.fd)).toBe(`unix:${sock}`);
    conn.write('hello');
    expect(await data(conn)).toBe('HELLO');
    conn.destroy();

    const fd = cs.csopen(`unix:${sock}`);
    expect(cs.cspath(fd)).toBe(`unix:${sock}`);
    cs.cswrite(fd, 'sync', 5000);
    expect(cs.csread(fd, 4, cs.CS_EXACT, 5000).toString()).toBe('SYNC');
    cs.csclose(fd);
  });

  test('descriptors pass both ways with a peer that speaks records but no rendezvous', async () => {
    const sock = join(dir, 'records.sock');
    const before = openFds();
    const l = sys.socket(sys.AF_UNIX, sys.SOCK_STREAM | sys.SOCK_NONBLOCK);
    sys.bind(l, sys.unixAddr(sock));
    sys.listen(l, 8);
    const client = await cs.open(`unix:${sock}`);
    const server = cs.Connection.attach(sys.accept(l, sys.SOCK_NONBLOCK));
    sys.close(l);
    expect(server.path).toBe(`unix:${sock}`);

    const out = memfdHolding('to-server');
    await client.sendFds([out]);
    closeSync(out);
    const got = await server.recvFds();
    expect(got.id.pid).toBe(process.pid);
    expect(readFileSync(`/proc/self/fd/${got.fds[0]}`, 'utf8')).toBe('to-server');
    closeSync(got.fds[0]);

    const back = memfdHolding('to-client');
    await server.sendFds([back]);
    closeSync(back);
    const r = await client.recvFds();
    expect(readFileSync(`/proc/self/fd/${r.fds[0]}`, 'utf8')).toBe('to-client');
    closeSync(r.fds[0]);
    client.destroy();
    server.destroy();
    expect(openFds()).toEqual(before);
  });
});

describe('with the cs rendezvous: a cs listener outside the namespace', () => {
  test('open({ rendezvous: true }): peer is the server that greeted; descriptors both ways', async () => {
    const path = `unix:${join(dir, 'cs.sock')}` as const;
    const server = await startFixture('record-echo.js', [path]);
    const pid = Number(server.line.split(' ')[1]);
    const before = openFds();
    const conn = await cs.open(path, { rendezvous: true });
    expect(conn.peer).toMatchObject({ pid, uid: process.geteuid!() });
    expect(cs.cspath(conn.fd)).toBe(path);
    const out = memfdHolding('async');
    await conn.sendFds([out]);
    closeSync(out);
    const r = await conn.recvFds();
    expect(r.id.pid).toBe(pid);
    expect(readFileSync(`/proc/self/fd/${r.fds[0]}`, 'utf8')).toBe(`got:async from:${process.pid}`);
    closeSync(r.fds[0]);
    conn.destroy();
    expect(openFds()).toEqual(before);
  });

  test('csopen(CS_OPEN_RENDEZVOUS), cssend, csrecv; csopen(CS_OPEN_CREATE) and csrecv serve one', async () => {
    const path = `unix:${join(dir, 'c.sock')}` as const;
    const server = await startFixture('record-echo.js', [path]);
    const pid = Number(server.line.split(' ')[1]);
    const fd = cs.csopen(path, cs.CS_OPEN_RENDEZVOUS);
    const out = memfdHolding('c-shaped');
    cs.cssend(fd, [out]);
    closeSync(out);
    const r = cs.csrecv(fd);
    expect(r.id.pid).toBe(pid);
    expect(readFileSync(`/proc/self/fd/${r.fds[0]}`, 'utf8')).toBe(`got:c-shaped from:${process.pid}`);
    closeSync(r.fds[0]);
    cs.csclose(fd);

    // this process listening: csrecv greets a client in another process
    const own = `unix:${join(dir, 'own.sock')}`;
    const l = cs.csopen(own, cs.CS_OPEN_CREATE);
    expect(cs.cspath(l)).toBe(own);
    const client = spawn(process.execPath, ['-e', `const cs = require(${JSON.stringify(DIST)}); const fd = cs.csopen(process.argv[1], cs.CS_OPEN_RENDEZVOUS); cs.cswrite(fd, 'greeted'); cs.csclose(fd);`, own], { stdio: ['ignore', 'pipe', 'pipe'] });
    const done = finish(client, 'rendezvous client', 10000);
    const accepted = cs.csrecv(l);
    expect(accepted.id.pid).toBe(client.pid);
    expect(cs.csread(accepted.fds[0], 7, cs.CS_EXACT, 5000).toString()).toBe('greeted');
    expect(await done).toMatchObject({ code: 0, stderr: '' });
    cs.csclose(accepted.fds[0]);
    cs.csclose(l);
  });

  test('listen(unix:...) accepts with the rendezvous; an existing file there is EADDRINUSE', async () => {
    const path = `unix:${join(dir, 'l.sock')}` as const;
    const listener = (await cs.listen(path)) as Listener;
    const [conn, accepted] = await Promise.all([cs.open(path, { rendezvous: true }), listener.accept()]);
    expect(accepted!.peer.pid).toBe(process.pid);
    expect(accepted!.path).toBe(path);
    conn.write('x');
    expect(await data(accepted!)).toBe('x');
    conn.destroy();
    accepted!.destroy();
    await expect(cs.listen(path)).rejects.toMatchObject({ code: 'EADDRINUSE', syscall: 'bind', path });
    await listener.close();
  });

  test('a server that never greets: the rendezvous fails ETIMEDOUT, nothing left open', async () => {
    process.env.CS_TIMEOUT_MS = '300';
    const sock = join(dir, 'mute.sock');
    await startFixture('unix-plain.js', [sock]);
    const before = openFds();
    await expect(cs.open(`unix:${sock}`, { rendezvous: true })).rejects.toMatchObject({ code: 'ETIMEDOUT', path: `unix:${sock}` });
    expect(() => cs.csopen(`unix:${sock}`, cs.CS_OPEN_RENDEZVOUS)).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', path: `unix:${sock}` }));
    expect(openFds()).toEqual(before);
  });
});

describe('connect failures, in Node\'s shape with the path', () => {
  test('ENOENT, ECONNREFUSED, ENOTSOCK, and no socket path at all', async () => {
    const refused = join(dir, 'refused.sock');
    const s = sys.socket(sys.AF_UNIX, sys.SOCK_STREAM);
    sys.bind(s, sys.unixAddr(refused)); // bound, never listening
    const file = join(dir, 'file');
    writeFileSync(file, 'not a socket');
    const before = openFds();
    const cases: [string, string, number][] = [
      [join(dir, 'missing.sock'), 'ENOENT', -2],
      [refused, 'ECONNREFUSED', -111],
      [file, 'ENOTSOCK', -88],
      [dir, 'ENOTSOCK', -88],
    ];
    for (const [address, code, errno] of cases) {
      const want = { code, errno, syscall: 'connect', path: `unix:${address}`, address };
      await expect(cs.open(`unix:${address}`)).rejects.toMatchObject(want);
      expect(() => cs.csopen(`unix:${address}`)).toThrow(expect.objectContaining(want));
      expect(() => cs.csopen(`unix:${address}`)).toThrow(new RegExp(`^${code}: .*, connect 'unix:${address}'`));
    }
    await expect(cs.open('unix:')).rejects.toMatchObject({ code: 'EINVAL', syscall: 'open', path: 'unix:' });
    expect(() => cs.csopen(`unix:${join(dir, 'x'.repeat(120))}`)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG', syscall: 'csopen' }));
    expect(openFds()).toEqual(before);
    sys.close(s);
  });
});
