// The rest of the cs.3 routines, against real processes where they involve one:
// cspipe, csread/cswrite/cspeek and their modes, csping, cslocal, csbind, csauth,
// csfull, csattr, csvar.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { resolveService } from '../src/launch/service';
import { recordedServer } from '../src/namespace';
import { StatusSampler } from '../cs-services/ssd/sample';
import { unavailable } from './netns';
import { FIXTURES, freshRootEachTest, openFds, startFixture, testIf } from './helpers';

const root = freshRootEachTest();
let seq = 0;
const svc = (what: string) => `${what}${process.pid}x${seq++}`;

/** Run fixture routines-peer.js MODE with `fd` as its fd 3; resolves once its output is complete (close, not exit). */
function peer(mode: string, fd: number): { pid: number; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [join(FIXTURES, 'routines-peer.js'), mode], { env: process.env, stdio: ['ignore', 'pipe', 'pipe', fd] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`routines-peer ${mode} did not finish in 20 s; stderr: ${stderr}`));
    }, 20000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { pid: child.pid!, done };
}

function readText(fd: number): string {
  const b = Buffer.alloc(256);
  return b.toString('utf8', 0, readSync(fd, b, 0, b.length, 0));
}

describe('cspipe', () => {
  test('two connected close-on-exec streams; cspath names each end /dev/ino/<dev>/<ino>', () => {
    const [a, b] = cs.cspipe();
    try {
      for (const fd of [a, b]) {
        expect(sys.fcntl(fd, sys.F_GETFD) & sys.FD_CLOEXEC).toBe(sys.FD_CLOEXEC);
        expect(cs.cspath(fd)).toMatch(/^\/dev\/ino\/[0-9]+\/[0-9]+$/);
      }
      expect(cs.cspath(a)).not.toBe(cs.cspath(b));
      cs.cswrite(a, 'ping\n');
      expect(cs.csread(b, 16, cs.CS_LINE).toString()).toBe('ping\n');
    } finally {
      cs.csclose(a);
      cs.csclose(b);
    }
  });

  test('a parent and a child pass descriptors both ways over it, with the kernel identity of each side', async () => {
    const before = openFds();
    const [mine, theirs] = cs.cspipe();
    const work = mkdtempSync(join(tmpdir(), 'cs-pipe-'));
    const file = openSync(join(work, 'out'), 'w+');
    const child = peer('pipe-child', theirs);
    cs.csclose(theirs);
    cs.cssend(mine, [file]);
    closeSync(file);
    const { id, fds: [m] } = cs.csrecv(mine, 1);
    expect(id.uid).toBe(process.geteuid!());
    expect(readText(m)).toBe(`memfd ${child.pid}`);
    closeSync(m);
    const r = await child.done;
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).pid).toBe(process.pid);
    expect(readFileSync(join(work, 'out'), 'utf8')).toBe(`child ${child.pid}`);
    cs.csclose(mine);
    rmSync(work, { recursive: true });
    expect(openFds()).toEqual(before);
  });
});

describe('csread, cswrite, cspeek', () => {
  test('CS_LINE takes one line, cspeek looks without taking, CS_EXACT and CS_LIMIT, end of stream is empty', () => {
    const [a, b] = cs.cspipe();
    const flags = sys.fcntl(b, sys.F_GETFL);
    try {
      expect(cs.cswrite(a, 'one\ntwo\r\nrest')).toBe(13);
      expect(cs.csread(b, 64, cs.CS_LINE).toString()).toBe('one\n');
      expect(cs.csread(b, 64, cs.CS_LINE | cs.CS_RESTART).toString()).toBe('two\r\n');
      expect(cs.cspeek(b, 64).toString()).toBe('rest');
      expect(cs.csread(b, 2, cs.CS_EXACT).toString()).toBe('re');
      expect(cs.csread(b, 64, cs.CS_LIMIT).toString()).toBe('st');
      expect(() => cs.csread(b, 64, cs.CS_LIMIT, 100)).toThrow(expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'csread' }));
      sys.shutdown(a, sys.SHUT_WR);
      expect(cs.csread(b, 64, cs.CS_LIMIT).length).toBe(0);
      expect(cs.cspeek(b, 8).length).toBe(0);
      expect(sys.fcntl(b, sys.F_GETFL)).toBe(flags); // the blocking mode was never touched
    } finally {
      cs.csclose(a);
      cs.csclose(b);
    }
  });

  test('end of stream inside an exact record or a line is EINVAL; a line longer than the size is EINVAL', () => {
    const [a, b] = cs.cspipe();
    try {
      cs.cswrite(a, 'toolongline\nabc');
      expect(() => cs.csread(b, 4, cs.CS_LINE)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('no newline within 4 bytes') }));
      cs.csread(b, 8, cs.CS_LINE);
      sys.shutdown(a, sys.SHUT_WR);
      expect(() => cs.csread(b, 8, cs.CS_EXACT)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('after 3 bytes') }));
      expect(() => cs.csread(b, 8, 0x40)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    } finally {
      cs.csclose(a);
      cs.csclose(b);
    }
  });

  test('work on a plain pipe too (lines a byte at a time); cspeek there is ENOTSOCK', () => {
    const [r, w] = sys.pipe();
    try {
      cs.cswrite(w, 'x\ny');
      expect(cs.csread(r, 8, cs.CS_LINE).toString()).toBe('x\n');
      expect(cs.csread(r, 8, cs.CS_LIMIT).toString()).toBe('y');
      expect(() => cs.cspeek(r, 8)).toThrow(expect.objectContaining({ code: 'ENOTSOCK' }));
    } finally {
      sys.close(r);
      sys.close(w);
    }
  });

  test('cswrite of 4 MiB waits for a reader in another process to drain it; a gone reader is EPIPE', async () => {
    const [mine, theirs] = cs.cspipe();
    const child = peer('drain', theirs);
    cs.csclose(theirs);
    expect(cs.cswrite(mine, Buffer.alloc(4 << 20, 7), 15000)).toBe(4 << 20);
    sys.shutdown(mine, sys.SHUT_WR);
    const r = await child.done;
    expect({ out: r.stdout.trim(), err: r.stderr }).toEqual({ out: String(4 << 20), err: '' });
    expect(() => cs.cswrite(mine, 'late')).toThrow(expect.objectContaining({ code: 'EPIPE', syscall: 'cswrite' }));
    cs.csclose(mine);
  });
});

describe('csping', () => {
  test('a running tcp echo service answers; a service that is not an echo is EPROTO; nothing at its port is ENOENT', async () => {
    const echo = await startFixture('net-server.js', [`/dev/tcp/local/${svc('echo')}`, 'echo']);
    const echoPath = echo.line.replace(/^ready /, '');
    expect(() => cs.csping(echoPath)).not.toThrow();
    const who = await startFixture('net-server.js', [`/dev/tcp/local/${svc('who')}`, 'whoami']);
    expect(() => cs.csping(who.line.replace(/^ready /, ''))).toThrow(expect.objectContaining({ code: 'EPROTO', syscall: 'csping' }));
    echo.child.kill('SIGKILL');
    await echo.exited;
    expect(() => cs.csping(echoPath)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'connect' }));
  });

  test('the bundled fdp echo service answers (started on demand)', () => {
    const path = `/dev/fdp/local/echo/${svc('ping')}`;
    try {
      expect(() => cs.csping(path)).not.toThrow();
    } finally {
      const { pid } = recordedServer(resolveService(path).md);
      if (pid) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('cslocal', () => {
  test('opens /dev/fdp/local/<service>/user like csopen; any other form is EINVAL', async () => {
    const path = `/dev/fdp/local/${svc('loc')}/user`;
    await startFixture('stream-server.js', [path, 'name', 'local-ok']);
    const fd = cs.cslocal(path);
    expect(cs.cspath(fd)).toBe(path);
    expect(cs.csread(fd, 8, cs.CS_EXACT, 5000).toString()).toBe('local-ok');
    cs.csclose(fd);
    expect(() => cs.cslocal(`/dev/fdp/local/${svc('loc')}`)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'cslocal' }));
    expect(() => cs.cslocal(`/dev/tcp/local/${svc('loc')}/user`)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('csbind and csauth', () => {
  test('csbind(addr 0, port 0) listens on a system-chosen port; csbind(CS_LOCAL, port) connects to it; csrecv accepts', () => {
    const l = cs.csbind('tcp', 0, 0);
    const port = Number(cs.cspath(l).split('/').pop());
    expect(port).toBeGreaterThan(0);
    const c = cs.csbind('tcp', cs.CS_LOCAL, port);
    const { fds: [s] } = cs.csrecv(l);
    cs.cswrite(c, 'hi\n');
    expect(cs.csread(s, 8, cs.CS_LINE).toString()).toBe('hi\n');
    expect(cs.cspath(c)).toBe(`/dev/tcp/127.0.0.1/${port}`);
    for (const fd of [s, c, l]) cs.csclose(fd);
    expect(() => cs.csbind('tcp', cs.CS_LOCAL, port)).toThrow(expect.objectContaining({ code: 'ECONNREFUSED' }));
    expect(() => cs.csbind('tcp', cs.CS_LOCAL, 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => cs.csbind('sctp' as 'tcp', 0, 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('csauth lets a csbind stream into a user service in another process; without it the handshake bytes come instead', async () => {
    const path = `/dev/tcp/local/${svc('auth')}/user`;
    const server = await startFixture('net-server.js', [path, 'whoami']);
    const port = Number(server.line.split('/').pop());
    const plain = cs.csbind('tcp', cs.CS_LOCAL, port);
    expect(cs.csread(plain, 3, cs.CS_EXACT, 5000).toString('latin1')).toBe('CS\x02');
    cs.csclose(plain);
    const fd = cs.csbind('tcp', cs.CS_LOCAL, port);
    cs.csauth(fd, path);
    const peer = JSON.parse(cs.csread(fd, 4096, cs.CS_LINE, 5000).toString());
    expect(peer.uid).toBe(process.geteuid!());
    cs.csclose(fd);
    const blocking = cs.csopen(`/dev/tcp/127.0.0.1/${port}`);
    expect(() => cs.csauth(blocking, path)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'csauth' }));
    cs.csclose(blocking);
  });
});

describe('csfull, csattr, csvar', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cs-hosts-'));
    writeFileSync(join(dir, 'hosts'), '10.9.8.7 alpha.example.org alpha\n');
    process.env.CS_HOSTS_FILE = join(dir, 'hosts');
    process.env.CS_STAT_DIR = join(dir, 'stat');
  });
  afterEach(() => {
    delete process.env.CS_HOSTS_FILE;
    delete process.env.CS_STAT_DIR;
    rmSync(dir, { recursive: true });
  });

  test('csfull names an address (the reverse of csaddr); an address without a name is ENOTFOUND', () => {
    expect(cs.csfull(cs.csaddr('alpha'))).toBe('alpha.example.org');
    expect(() => cs.csfull(cs.csaddr('10.1.1.1'))).toThrow(expect.objectContaining({ code: 'ENOTFOUND' }));
    expect(() => cs.csfull(-5)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    delete process.env.CS_HOSTS_FILE; // the system resolver (getnameinfo) names loopback from /etc/hosts
    expect(cs.csfull(0x7f000001)).toBe(readFileSync('/etc/hosts', 'utf8').match(/^127\.0\.0\.1\s+(\S+)/m)![1]);
  });

  test('csattr: name and addr, and the status once noted; unknown attributes are undefined, unknown hosts ENOTFOUND', () => {
    expect(cs.csattr('alpha', 'addr')).toBe('10.9.8.7');
    expect(cs.csattr('alpha', 'name')).toBe('alpha.example.org');
    expect(cs.csattr('alpha', 'load')).toBeUndefined();
    cs.csnote('alpha', { up: 100, load: 25, idle: 5, users: 1, pctusr: 10, pctsys: 3 });
    expect(cs.csattr('alpha', 'load')).toBe('25');
    expect(cs.csattr('alpha')).toBe('name=alpha.example.org addr=10.9.8.7 up=100 load=25 idle=5 users=1 pctusr=10 pctsys=3');
    expect(() => cs.csattr('nosuch')).toThrow(expect.objectContaining({ code: 'ENOTFOUND' }));
  });

  test('csvar: the environment or libcs defaults; trust ignores the environment', () => {
    expect(cs.csvar(cs.CS_VAR_LOCAL)).toBe(root());
    expect(cs.csvar(cs.CS_VAR_LOCAL, true)).toBe('/tmp/cs');
    expect(cs.csvar(cs.CS_VAR_TRUST)).toBe(process.env.CS_MOUNT_TRUST || '/usr/local:/usr');
    expect(() => cs.csvar(4)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'csvar' }));
  });
});

describe('tcp paths the README promises', () => {
  test('/dev/tcp/local/0 with CS_OPEN_CREATE listens on a port the system chose; cspath tells it and clients reach it', () => {
    const l = cs.csopen('/dev/tcp/local/0', cs.CS_OPEN_CREATE);
    try {
      const port = Number(cs.cspath(l).split('/').pop());
      expect(port).toBeGreaterThan(0);
      const c = cs.csopen(`/dev/tcp/127.0.0.1/${port}`);
      const { fds: [s] } = cs.csrecv(l);
      cs.cswrite(c, 'zero\n');
      expect(cs.csread(s, 8, cs.CS_LINE, 5000).toString()).toBe('zero\n');
      cs.csclose(c);
      cs.csclose(s);
    } finally {
      cs.csclose(l);
    }
    expect(() => cs.csopen('/dev/tcp/local/0')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test.each([
    ['/dev/tcp/[::1]/v6svc', '::1'],
    ['/dev/tcp/[0:0:0:0:0:0:0:1]/v6svc', '::1'],
    ['/dev/tcp/[::ffff:127.0.0.1]/v6svc', '127.0.0.1'],
  ])('%s: create, connect and csinet work; cspath names the address', async (path, address) => {
    const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [join(FIXTURES, 'routines-peer.js'), 'loop', path], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout!.on('data', (d) => (stdout += d));
      child.once('close', (code) => resolve({ code, stdout }));
    });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const host = address.includes(':') ? `[${address}]` : address;
    expect(out.got).toBe('hi\n');
    expect(out.client).toBe(out.listener);
    expect(out.listener).toMatch(new RegExp(`^/dev/tcp/${host.replace(/[[\]]/g, '\\$&')}/[0-9]+$`));
    const inet = cs.csinet(path);
    expect(inet.address).toBe(address);
    expect(inet.addr).toBe(address === '127.0.0.1' ? 0x7f000001 : 0);
  });

  const netnsWhy = unavailable();
  testIf(netnsWhy === null, netnsWhy ?? '')('/dev/tcp/[fe80::1%d0]/svc: a link-local address with its zone works (in a network namespace with that address on d0)', async () => {
    const ns = `csll${process.pid}`;
    const ip = (...args: string[]) => expect(spawnSync('ip', args, { encoding: 'utf8' }).stderr).toBe('');
    ip('netns', 'add', ns);
    try {
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
      ip('-n', ns, 'addr', 'add', 'fe80::1/64', 'dev', 'd0', 'nodad');
      ip('-n', ns, 'link', 'set', 'd1', 'up');
      ip('-n', ns, 'link', 'set', 'd0', 'up');
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, join(FIXTURES, 'routines-peer.js'), 'loop', '/dev/tcp/[fe80::1%d0]/llsvc'], { encoding: 'utf8', env: process.env, timeout: 20000 });
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout);
      expect(out.got).toBe('hi\n');
      expect(out.listener).toMatch(/^\/dev\/tcp\/\[fe80::1%d0\]\/[0-9]+$/);
      expect(out.client).toBe(out.listener);
      expect(cs.csinet('/dev/tcp/[fe80::1%d0]/llsvc').address).toBe('fe80::1%d0');
    } finally {
      spawnSync('ip', ['netns', 'del', ns]);
    }
  });

  test('a zone that names no interface is ENXIO', () => {
    expect(() => cs.csopen('/dev/tcp/[fe80::1%nosuchif0]/x', cs.CS_OPEN_CREATE)).toThrow(expect.objectContaining({ code: 'ENXIO' }));
  });
});

describe('the status daemon sampler', () => {
  test('a sample right after another reports CPU shares over a window long enough to measure, not over a few ticks', () => {
    const sampler = new StatusSampler();
    const first = sampler.sample();
    const second = sampler.sample(); // microseconds later: a window of 0..2 ticks
    // both cover the time since boot, so they agree to within rounding
    expect(Math.abs(second.pctusr - first.pctusr)).toBeLessThanOrEqual(1);
    expect(Math.abs(second.pctsys - first.pctsys)).toBeLessThanOrEqual(1);
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = line.reduce((a, b) => a + b, 0);
    expect(Math.abs(second.pctusr - Math.round((100 * (line[0] + line[1])) / total))).toBeLessThanOrEqual(1);
  });
});
