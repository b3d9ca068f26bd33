// tcp and udp streams over loopback between real processes: ports by name (hashed)
// and number, datagrams, cspath, the namespace record when the hashed port is taken,
// the peer's kernel identity, and bad input failing fast with the right code.
import { createServer, type Server } from 'node:net';
import { lstatSync, mkdtempSync, readlinkSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from '../src/net';
import * as sys from '../src/sys';
import { parsePath } from '../src/path';
import { hashPort } from '../src/port';
import { cspath } from '../src/open/api';
import { waitSync } from '../src/io';
import { freshRoot, isRoot, testIf, killFixtures, openFds, removeRoot, runFixture, secondUser, startFixture, tcpPair } from './helpers';

let root: string;
let seq = 0;
/** A service name nobody else uses, whose hashed port is free right now. */
async function freshService(what: string): Promise<string> {
  for (;;) {
    const name = `${what}${process.pid}x${seq++}`;
    if (await portFree(hashPort(name))) return name;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
  });
}

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.destroy());
    s.once('error', reject);
    s.listen(port, '0.0.0.0', () => resolve(s));
  });
}

/** Read from blocking fd `fd` until `n` bytes or end of stream, never waiting more than 5 s for a byte. */
function readN(fd: number, n: number): string {
  const buf = Buffer.alloc(n);
  let off = 0;
  while (off < n) {
    if (!waitSync(fd, 'r', 5000)) throw new Error('peer sent nothing within 5 s');
    const r = readSync(fd, buf, off, n - off, null);
    if (r === 0) break;
    off += r;
  }
  return buf.toString('utf8', 0, off);
}

function echoOnce(fd: number, text: string): string {
  writeSync(fd, text);
  return readN(fd, Buffer.byteLength(text));
}

beforeEach(() => {
  root = freshRoot();
});
afterEach(async () => {
  await killFixtures();
  removeRoot(root);
  delete process.env.CS_HOSTS_FILE;
  delete process.env.CS_TIMEOUT_MS;
});

describe('tcp streams over loopback', () => {
  test('echo round trip by name: the server binds the hashed port and the client finds it', async () => {
    const name = await freshService('echo');
    const s = await startFixture('net-server.js', [`/dev/tcp/local/${name}`, 'echo']);
    expect(s.line).toBe(`ready /dev/tcp/${net.hostAddress()}/${hashPort(name)}`);
    const before = openFds();
    const fd = net.netOpen(parsePath(`/dev/tcp/local/${name}`));
    expect(echoOnce(fd, 'hello over tcp')).toBe('hello over tcp');
    sys.close(fd);
    expect(openFds()).toEqual(before);
  });

  test('echo round trip by port number, sync and async clients, by address and by name', async () => {
    const name = await freshService('num');
    const port = hashPort(name); // free, so usable as a plain number too
    await startFixture('net-server.js', [`/dev/tcp/local/${port}`, 'echo']);
    const fd = net.netOpen(parsePath(`/dev/tcp/127.0.0.1/${port}`));
    expect(cspath(fd)).toBe(`/dev/tcp/127.0.0.1/${port}`);
    expect(echoOnce(fd, 'by number')).toBe('by number');
    sys.close(fd);

    const sock = await net.netConnect(parsePath(`/dev/tcp/localhost/${port}`));
    const reply = new Promise<string>((resolve) => {
      let got = '';
      sock.on('data', (d) => (got += d));
      sock.on('end', () => resolve(got));
    });
    sock.end('async client');
    expect(await reply).toBe('async client');
    expect(sock.path).toMatch(new RegExp(`^/dev/tcp/[0-9.]+/${port}$`));
    expect(sock.peer).toMatchObject({ local: true, uid: process.geteuid!(), port });
    sock.destroy();
  });

  test('cspath names the peer of a stream and the bound address of a listener', async () => {
    const name = await freshService('paths');
    const listen = net.netOpen(parsePath(`/dev/tcp/local/${name}`), 1);
    const client = net.netOpen(parsePath(`/dev/tcp/127.0.0.1/${name}`));
    const { fd: server, id } = net.netAccept(listen);
    expect(cspath(listen)).toBe(`/dev/tcp/${net.hostAddress()}/${hashPort(name)}`);
    expect(cspath(client)).toBe(`/dev/tcp/127.0.0.1/${hashPort(name)}`);
    expect(cspath(server)).toBe(`/dev/tcp/127.0.0.1/${id.port}`);
    for (const fd of [listen, client, server]) sys.close(fd);
  });

  test('IPv6 literal paths work and print in brackets', async () => {
    const name = await freshService('six');
    const listen = net.netOpen(parsePath(`/dev/tcp/[::1]/${name}`), 1);
    const client = net.netOpen(parsePath(`/dev/tcp/[0:0::1]/${name}`));
    const { fd: server, id } = net.netAccept(listen);
    expect(cspath(listen)).toBe(`/dev/tcp/[::1]/${hashPort(name)}`);
    expect(cspath(client)).toBe(`/dev/tcp/[::1]/${hashPort(name)}`);
    expect(id).toMatchObject({ address: '::1', hid: 0, local: true, uid: process.geteuid!() });
    for (const fd of [listen, client, server]) sys.close(fd);
  });

  test('a hashed port held by something else: the server slips to another port, records it, and clients still reach it', async () => {
    const name = await freshService('slip');
    const hashed = hashPort(name);
    const squatter = await occupy(hashed);
    let squatted = 0;
    squatter.on('connection', () => squatted++);
    try {
      const s = await startFixture('net-server.js', [`/dev/tcp/local/${name}`, 'echo']);
      const port = Number(s.line.split('/').pop());
      expect(port).not.toBe(hashed);
      const md = net.netServiceDir(parsePath(`/dev/tcp/local/${name}`));
      expect(md.dir.endsWith('/--#')).toBe(true);
      expect(lstatSync(md.socket).isSymbolicLink()).toBe(true);
      expect(readlinkSync(md.socket)).toBe(`/dev/tcp/[::]/${port}`);
      expect(readlinkSync(md.pidLink)).toBe(`/proc/${s.child.pid}`);

      const fd = net.netOpen(parsePath(`/dev/tcp/local/${name}`));
      expect(cspath(fd)).toBe(`/dev/tcp/127.0.0.1/${port}`);
      expect(echoOnce(fd, 'found through the record')).toBe('found through the record');
      sys.close(fd);
      expect(squatted).toBe(0);
    } finally {
      squatter.close();
    }
  });

  test('a numbered port held by something else is EADDRINUSE, never a silent other port', async () => {
    const port = hashPort(await freshService('held'));
    const squatter = await occupy(port);
    try {
      expect(() => net.netOpen(parsePath(`/dev/tcp/local/${port}`), 1)).toThrow(expect.objectContaining({ code: 'EADDRINUSE', syscall: 'bind' }));
    } finally {
      squatter.close();
    }
  });

  test('a second server for a live service is EADDRINUSE naming the first; a dead server\'s record is ignored', async () => {
    const name = await freshService('twice');
    const path = `/dev/tcp/local/${name}`;
    const s = await startFixture('net-server.js', [path, 'echo']);
    expect(() => net.netOpen(parsePath(path), 1)).toThrow(expect.objectContaining({ code: 'EADDRINUSE', message: expect.stringContaining(`already served by pid ${s.child.pid}`) }));
    s.child.kill('SIGKILL');
    await s.exited;
    const before = openFds();
    expect(() => net.netOpen(parsePath(path))).toThrow(expect.objectContaining({ code: 'ECONNREFUSED' }));
    expect(openFds()).toEqual(before);
    const again = net.netOpen(parsePath(path), 1);
    expect(cspath(again)).toBe(`/dev/tcp/${net.hostAddress()}/${hashPort(name)}`);
    sys.close(again);
  });

  test('the async listener yields admitted sockets and removes its record when closed', async () => {
    const name = await freshService('iter');
    const p = parsePath(`/dev/tcp/local/${name}`);
    const listener = net.netListen(p);
    const served = (async () => {
      for await (const conn of listener) {
        conn.end(JSON.stringify(conn.peer));
        return conn.peer;
      }
      return null;
    })();
    const client = await net.netConnect(p);
    let text = '';
    client.on('data', (d) => (text += d));
    await new Promise((resolve) => client.once('end', resolve));
    const peer = JSON.parse(text);
    expect(await served).toEqual(peer);
    expect(peer).toMatchObject({ hid: 0x7f000001, uid: process.geteuid!(), gid: -1, pid: -1, local: true, port: client.localPort });
    client.destroy();
    expect(lstatSync(listener.md.socket).isSymbolicLink()).toBe(true);
    listener.close();
    expect(() => lstatSync(listener.md.socket)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describe('udp', () => {
  test('datagram echo keeps message boundaries; cspath names the server', async () => {
    const name = await freshService('dgram');
    const s = await startFixture('net-server.js', [`/dev/udp/local/${name}`, 'udp']);
    const before = openFds();
    const fd = net.netOpen(parsePath(`/dev/udp/127.0.0.1/${name}`));
    expect(cspath(fd)).toBe(`/dev/udp/127.0.0.1/${Number(s.line.split('/').pop())}`);
    writeSync(fd, 'one');
    writeSync(fd, 'second');
    const buf = Buffer.alloc(100);
    const got: string[] = [];
    for (let i = 0; i < 2; i++) {
      if (!waitSync(fd, 'r', 5000)) throw new Error('no datagram within 5 s');
      got.push(buf.toString('utf8', 0, readSync(fd, buf)));
    }
    expect(got).toEqual(['one', 'second']);
    sys.close(fd);
    expect(openFds()).toEqual(before);
  });

  test('user and group options need tcp: EINVAL', () => {
    expect(() => net.netOpen(parsePath('/dev/udp/local/x/user'))).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('udp') }));
  });
});

describe('peer identity over tcp', () => {
  test('the kernel names the exact peer socket while a process holds it, and nobody once it is closed; no descriptor stays open', () => {
    const [server, client] = tcpPair();
    const before = openFds();
    const [s, c] = [sys.localInet(server), sys.localInet(client)];
    const live = sys.diagSocket(sys.IPPROTO_TCP, c, s);
    expect(live).toMatchObject({ state: sys.TCP_ESTABLISHED, uid: process.geteuid!(), local: { port: c.port }, remote: { port: s.port } });
    expect(live!.inode).toBeGreaterThan(0);
    expect(net.peerId(server)).toMatchObject({ uid: process.geteuid!(), local: true, port: c.port });
    sys.close(client);
    const gone = sys.diagSocket(sys.IPPROTO_TCP, c, s);
    expect(gone === null || gone.inode === 0).toBe(true);
    expect(net.peerId(server)).toMatchObject({ uid: -1, local: true, port: c.port });
    expect(sys.diagSocket(sys.IPPROTO_TCP, { address: '127.0.0.1', port: c.port }, { address: '127.0.0.1', port: 1 })).toBe(null);
    expect(openFds()).toEqual([...before].filter((fd) => fd !== String(client)));
    sys.close(server);
  });

  test('a loopback peer gets its real uid from the kernel; hid is its address', async () => {
    const name = await freshService('whoami');
    await startFixture('net-server.js', [`/dev/tcp/local/${name}`, 'whoami']);
    const r = await runFixture('net-client.js', [`/dev/tcp/127.0.0.1/${name}`]);
    const peer = JSON.parse(JSON.parse(r.stdout).reply);
    expect(peer).toMatchObject({ hid: 0x7f000001, address: '127.0.0.1', uid: process.geteuid!(), gid: -1, local: true });
  });

  testIf(isRoot, 'a second user needs root')('another user\'s loopback connection shows that user\'s uid', async () => {
    const uid = secondUser();
    const name = await freshService('other');
    await startFixture('net-server.js', [`/dev/tcp/local/${name}`, 'whoami']);
    const r = await runFixture('net-client.js', [`/dev/tcp/127.0.0.1/${name}`], { asUser: uid });
    expect(JSON.parse(JSON.parse(r.stdout).reply)).toMatchObject({ uid, local: true });
  });
});

describe('bad input fails at once with the right code', () => {
  test.each([
    ['/dev/tcp/local/0', 'EINVAL', /port 0 is out of range/],
    ['/dev/tcp/local/65536', 'EINVAL', /port 65536 is out of range/],
    ['/dev/udp/local/0', 'EINVAL', /port 0 is out of range/],
    ['/dev/tcp/local/inet.nosuchservice', 'ENOENT', /unknown service inet\.nosuchservice for tcp/],
    ['/dev/tcp/bad!host/x', 'EINVAL', /host 'bad!host' has a character that is not allowed: '!'/],
    ['/dev/tcp/local', 'EISDIR', /names a directory/],
    ['/dev/tcp/300.1.1.1/x', 'EINVAL', /octet out of range/],
  ])('%s: %s', (path, code, message) => {
    const before = openFds();
    const attempt = () => net.netOpen(parsePath(path));
    expect(attempt).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
    expect(openFds()).toEqual(before);
  });

  test('an fdp path is not a network path', () => {
    expect(() => net.netOpen(parsePath('/dev/fdp/local/x'))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('an unknown host name is ENOTFOUND like dns.lookup, sync and async', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-hosts-'));
    try {
      writeFileSync(join(dir, 'hosts'), '127.0.0.1 known-host\n');
      process.env.CS_HOSTS_FILE = join(dir, 'hosts');
      const err = { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: 'nosuch-host', path: '/dev/tcp/nosuch-host/x' };
      expect(() => net.netOpen(parsePath('/dev/tcp/nosuch-host/x'))).toThrow(expect.objectContaining(err));
      await expect(net.netOpenAsync(parsePath('/dev/tcp/nosuch-host/x'))).rejects.toMatchObject(err);
      // a name the file knows resolves through it
      const unserved = await freshService('refused');
      expect(() => net.netOpen(parsePath(`/dev/tcp/known-host/${unserved}`))).toThrow(expect.objectContaining({ code: 'ECONNREFUSED' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('connect timeouts are bounded and configurable (a listener whose backlog is full never answers)', async () => {
    const fd = sys.socket(sys.AF_INET, sys.SOCK_STREAM);
    sys.bind(fd, sys.inetAddr('127.0.0.1', 0));
    sys.listen(fd, 0);
    const port = sys.localInet(fd).port;
    const held: number[] = [];
    const codes: string[] = [];
    try {
      for (let i = 0; i < 4 && codes.length === 0; i++) {
        try {
          held.push(net.netOpen(parsePath(`/dev/tcp/127.0.0.1/${port}`), 0, { timeoutMs: 300 }));
        } catch (e) {
          codes.push((e as sys.CsError).code);
        }
      }
      expect(codes).toEqual(['ETIMEDOUT']);
      process.env.CS_TIMEOUT_MS = '200';
      await expect(net.netOpenAsync(parsePath(`/dev/tcp/127.0.0.1/${port}`))).rejects.toMatchObject({ code: 'ETIMEDOUT', message: expect.stringContaining('within 200 ms') });
    } finally {
      for (const h of [...held, fd]) sys.close(h);
    }
  });
});
