// tcp/udp through the public stream API: csopen/csrecv/cspath on tcp, descriptor
// records refused on tcp/udp, open()/listen() giving Node sockets, a udp Connection,
// auto-start of a tcp service from its launch entry, and the CLI on tcp paths.
import { chmodSync, existsSync, mkdirSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { once } from 'node:events';
import { CS_OPEN_CREATE, csclose, csopen, cspath, csrecv, cssend, listen, open } from '../src';
import { hashPort } from '../src/port';
import { recvDatagram, sendDatagram, type NetSocket } from '../src/net';
import { resolveService } from '../src/launch/service';
import { createMountDir, recordedPid } from '../src/namespace';
import { AGAIN, waitSync } from '../src/io';
import { signalServer } from '../src/cli/kill';
import { FIXTURES, freshRoot, killFixtures, openFds, outsideEphemeral, removeRoot, runFixture } from './helpers';

const CLI = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
let root: string;
let seq = 0;
const service = (what: string) => `${what}${process.pid}s${seq++}`;

beforeEach(() => {
  root = freshRoot();
});
/** Services started on demand: their detached servers are ended after each test, whatever happened. */
const started: string[] = [];
afterEach(async () => {
  for (const path of started.splice(0)) {
    try {
      signalServer('KILL', path);
    } catch {
      // already stopped by the test
    }
  }
  await killFixtures();
  removeRoot(root);
});

function readAll(fd: number, n: number): string {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const r = readSync(fd, buf, got, n - got, null);
    if (r === 0) break;
    got += r;
  }
  return buf.toString('utf8', 0, got);
}

test('csopen opens and creates tcp services; csrecv accepts with the peer; cssend/csrecv records are EOPNOTSUPP', () => {
  const before = openFds();
  const name = outsideEphemeral((i) => service(`sync${i}x`));
  const lfd = csopen(`/dev/tcp/local/${name}`, CS_OPEN_CREATE);
  expect(cspath(lfd)).toMatch(new RegExp(`^/dev/tcp/[0-9.]+/${hashPort(name)}$`));
  const cfd = csopen(`/dev/tcp/local/${name}`);
  expect(cspath(cfd)).toBe(`/dev/tcp/127.0.0.1/${hashPort(name)}`);
  const { id, fds } = csrecv(lfd);
  expect(fds).toHaveLength(1);
  expect(id).toMatchObject({ hid: 0x7f000001, uid: process.getuid!() });
  writeSync(cfd, 'ping');
  expect(readAll(fds[0], 4)).toBe('ping');
  for (const [what, call] of [['cssend', () => cssend(cfd, [0])], ['csrecv', () => csrecv(fds[0])]] as const) {
    expect(call).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP', syscall: what, message: expect.stringContaining('descriptors pass only on fdp streams') }));
  }
  for (const fd of [fds[0], cfd, lfd]) csclose(fd);
  expect(openFds()).toEqual(before);
});

test('a NetListener keeps connections that arrive before anyone asks, and closes those nobody took', async () => {
  const name = service('early');
  const warm = await listen(`/dev/tcp/local/${name}`);
  const warmClient = await open(`/dev/tcp/local/${name}`);
  (await warm.accept())!.destroy();
  warmClient.destroy();
  warm.close();
  await new Promise((r) => setTimeout(r, 100));
  const before = openFds();
  const listener = await listen(`/dev/tcp/local/${name}`);
  const clients = await Promise.all([0, 1, 2].map(() => open(`/dev/tcp/local/${name}`)));
  await new Promise((r) => setTimeout(r, 300)); // admitted, with nobody listening for them
  const first = await Promise.race([listener.accept(), new Promise((r) => setTimeout(r, 5000))]);
  if (!first) throw new Error('the early connection was not kept for accept()');
  (first as NetSocket).end('kept');
  const [chunk] = await once(clients[0]!, 'data');
  expect(String(chunk)).toBe('kept');
  listener.close(); // the two nobody took are closed: their clients see the end
  await Promise.all(clients.slice(1).map((c) => once(c.resume(), 'end')));
  for (const c of clients) c.destroy();
  (first as NetSocket).destroy();
  await new Promise((r) => setTimeout(r, 100));
  expect(openFds()).toEqual(before);
});

test('open() and listen() on tcp give NetSocket and NetListener; a udp open() is a datagram Connection', async () => {
  const name = service('async');
  const listener = await listen(`/dev/tcp/local/${name}`);
  listener.on('connection', (conn) => conn.pipe(conn));
  const sock = await open(`/dev/tcp/local/${name}`);
  expect(sock.path).toBe(`/dev/tcp/127.0.0.1/${hashPort(name)}`);
  for (const [what, call] of [['sendFds', () => sock.sendFds([0])], ['recvFds', () => sock.recvFds()]] as const) {
    await expect(call()).rejects.toMatchObject({ code: 'EOPNOTSUPP', syscall: what, path: sock.path });
  }
  sock.end('round trip');
  let reply = '';
  for await (const chunk of sock) reply += chunk;
  expect(reply).toBe('round trip');
  listener.close();

  const uname = service('dgram');
  const server = csopen(`/dev/udp/local/${uname}`, CS_OPEN_CREATE);
  const conn = await open(`/dev/udp/local/${uname}`);
  conn.write('one datagram');
  const buf = Buffer.alloc(100);
  expect(waitSync(server, 'r', 5000)).toBe(true);
  const got = recvDatagram(server, buf);
  if (got === AGAIN) throw new Error('no datagram');
  expect(buf.toString('utf8', 0, got.n)).toBe('one datagram');
  sendDatagram(server, Buffer.from('reply'), got.from);
  const [chunk] = await once(conn, 'data');
  expect(String(chunk)).toBe('reply');
  await expect(conn.recvFds()).rejects.toMatchObject({ code: 'EOPNOTSUPP' });
  conn.destroy();
  csclose(server);
});

describe('a tcp service with a launch entry', () => {
  function addEntry(name: string): void {
    const dir = join(root, 'lib', 'cs', 'tcp', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'server'), `#!/bin/sh\nexec "${process.execPath}" "${join(FIXTURES, 'net-server.js')}" "$1" echo\n`, { mode: 0o755 });
    chmodSync(join(dir, 'server'), 0o755);
  }

  const cs = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, CS_PATH: root }, encoding: 'utf8', timeout: 15000 });

  test('starts on demand with the socket handed over, is listed, answers cs -i and stops with cs -k', async () => {
    const name = service('auto');
    addEntry(name);
    const path = `/dev/tcp/local/${name}`;
    started.push(path);
    const r = await runFixture('net-csopen.js', [path, 'started here'], { env: { CS_PATH: root } });
    expect(JSON.parse(r.stdout)).toEqual({ path: `/dev/tcp/127.0.0.1/${hashPort(name)}`, reply: 'started here' });
    const listed = cs(['-p', '/dev/tcp']);
    expect(listed.stdout).toMatch(new RegExp(`^\\d+ ${path}$`, 'm'));
    const echoed = spawnSync(process.execPath, [CLI, '-q', path], { input: 'via cs -q', env: { ...process.env, CS_PATH: root }, encoding: 'utf8', timeout: 15000 });
    expect(echoed.stdout).toBe('via cs -q');
    expect(cs(['-k', 'TERM', path]).status).toBe(0);
  });

  test('a start that fails leaves no record naming the client', () => {
    const name = service('failing');
    addEntry(name);
    const path = `/dev/tcp/local/${name}`;
    process.env.CS_PATH = root;
    const { md } = resolveService(path);
    createMountDir(md);
    // the old log cannot be rotated onto a directory: the server is never spawned
    writeFileSync(md.log, 'an old log\n');
    mkdirSync(join(md.oldLog, 'in-the-way'), { recursive: true });
    try {
      expect(() => csopen(path)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    } finally {
      delete process.env.CS_PATH;
    }
    expect(recordedPid(md)).toBeNull();
    expect(existsSync(md.socket)).toBe(false);
  });

  test('cs -t answers from CS_HOSTS_FILE', () => {
    const hosts = join(root, 'hosts');
    writeFileSync(hosts, '10.9.8.7 faraway\n');
    const r = spawnSync(process.execPath, [CLI, '-t', 'faraway'], { env: { ...process.env, CS_HOSTS_FILE: hosts }, encoding: 'utf8', timeout: 15000 });
    expect(r.stdout).toBe('10.9.8.7\n');
  });
});
