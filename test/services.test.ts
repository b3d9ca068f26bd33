// The bundled services, started on demand from the package's own launch entries
// (and the opener also from a test launch tree with its own allow-list), driven by
// real client processes and this one.
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, readSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { mountDir, type MountDir } from '../src/namespace';
import { parsePath } from '../src/path';
import { findLaunchEntry, findService } from '../src/namespace/entry';
import { cpuTicks, fdCount, freshRoot, isRoot, testIf, killFixtures, openFds, removeRoot, rssKb, runFixture, secondUser, startFixture, makeAuthFd, killPids } from './helpers';

const ROOT_DIR = join(__dirname, '..');
let root: string;
let seq = 0;
/** Pids of the servers a test started, killed after it. */
let servers: number[] = [];

beforeEach(() => {
  root = freshRoot();
  delete process.env.CS_PATH;
  delete process.env.CS_IDLE_MS;
  servers = [];
  makeAuthFd();
});

afterEach(async () => {
  killPids(servers);
  await killFixtures();
  removeRoot(root);
  delete process.env.CS_PATH;
  delete process.env.CS_IDLE_MS;
});

function md(path: string): MountDir {
  return mountDir(parsePath(path), findService('fdp', parsePath(path).service!).svc?.uid ?? null);
}

function serverPid(path: string): number | null {
  try {
    return Number(readlinkSync(md(path).pidLink).replace('/proc/', ''));
  } catch {
    return null;
  }
}

/** Note the server of `path` (now running) to kill after the test. */
function killLater(path: string): void {
  const pid = serverPid(path);
  if (pid !== null && !servers.includes(pid)) servers.push(pid);
}

/** Open a service, starting it; its server is killed after the test. */
function open(path: string): number {
  const fd = cs.csopen(path);
  killLater(path);
  return fd;
}

function readLine(fd: number): string {
  const one = Buffer.alloc(1);
  let line = '';
  for (;;) {
    if (cs.cspoll([{ fd, events: 'r' }], 10000).length === 0) throw new Error('no reply within 10 s');
    if (readSync(fd, one, 0, 1, null) !== 1 || one[0] === 0x0a) return line;
    line += String.fromCharCode(one[0]!);
  }
}

function request(fd: number, line: string, fds?: number[]): string {
  writeSync(fd, `${line}\n`);
  if (fds) cs.cssend(fd, fds);
  return readLine(fd);
}

/**
 * Write `line` over and over on `fd` and read nothing, until the service stops taking
 * requests (nothing written for 500 ms) or `ms` passed; returns how many were written.
 */
async function flood(fd: number, line: string, ms: number): Promise<number> {
  sys.setNonBlocking(fd, true);
  const chunk = Buffer.from(line.repeat(1000));
  let rest = chunk;
  let written = 0;
  const end = Date.now() + ms;
  for (let progress = Date.now(); Date.now() < end && Date.now() - progress < 500; ) {
    const n = sys.writeRaw(fd, rest);
    if (n > 0) {
      written += n;
      progress = Date.now();
      rest = rest.length > n ? rest.subarray(n) : chunk;
    } else await new Promise((r) => setTimeout(r, 20));
  }
  return Math.floor(written / line.length);
}

/** Resolve once process `pid` used no CPU for 300 ms (it did what it could with its input), at most `ms`. */
async function settled(pid: number, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  for (let last = -1; Date.now() < end; ) {
    const now = cpuTicks(pid);
    if (now === last) return;
    last = now;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`pid ${pid} still busy after ${ms} ms`);
}

/** Time `run` takes, in ms. */
function timed(run: () => void): number {
  const start = Date.now();
  run();
  return Date.now() - start;
}

/** Resolve once `file` no longer exists (inotify through fs.watch), bounded by `ms`. */
function gone(file: string, ms = 10000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`${file} still exists after ${ms} ms`)), ms);
    const w = require('node:fs').watch(join(file, '..'), () => !existsSync(file) && finish());
    function finish(e?: Error) {
      clearTimeout(timer);
      w.close();
      if (e) reject(e);
      else resolve();
    }
    if (!existsSync(file)) finish();
  });
}

describe('echo', () => {
  const ECHO = '/dev/fdp/local/echo';

  test('a fresh namespace: the first open starts echo once, bytes come back, SIGTERM leaves the namespace clean', async () => {
    const fd = open(ECHO);
    writeSync(fd, 'hello, echo');
    const buf = Buffer.alloc(64);
    expect(buf.toString('utf8', 0, readSync(fd, buf))).toBe('hello, echo');
    cs.csclose(fd);
    const pid = serverPid(ECHO)!;
    const fd2 = open(ECHO);
    cs.csclose(fd2);
    expect(serverPid(ECHO)).toBe(pid);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('lib/cs/fdp/echo/server');
    process.kill(pid, 'SIGTERM');
    await gone(md(ECHO).socket);
    expect(existsSync(md(ECHO).pidLink)).toBe(false);
  });

  test('descriptors sent with cssend come back as a record with the same descriptors; bytes around it stay bytes', () => {
    const before = openFds();
    const [pipeR, pipeW] = sys.pipe();
    const fd = open(ECHO);
    writeSync(fd, 'before');
    cs.cssend(fd, [pipeW]);
    writeSync(fd, 'after');
    const buf = Buffer.alloc(6);
    expect(buf.toString('utf8', 0, readSync(fd, buf, 0, 6, null))).toBe('before');
    const { fds } = cs.csrecv(fd, 4);
    expect(fds).toHaveLength(1);
    expect(buf.toString('utf8', 0, readSync(fd, buf, 0, 5, null))).toBe('after');
    // the descriptor that came back is the same pipe
    writeSync(fds[0]!, 'through the pipe');
    const got = Buffer.alloc(32);
    expect(got.toString('utf8', 0, readSync(pipeR, got))).toBe('through the pipe');
    for (const f of [fds[0]!, pipeR, pipeW]) closeSync(f);
    cs.csclose(fd);
    expect(openFds()).toEqual(before);
  });
});

describe('fdstore', () => {
  const FDSTORE = '/dev/fdp/local/fdstore';

  test('a process stores its listening socket and exits; a new process takes it back and serves the client that waited in the backlog', async () => {
    const app = `/dev/fdp/local/app${process.pid}x${seq++}`;
    const stored = await runFixture('services-app.js', ['store', app, 'app-listener']);
    killLater(FDSTORE);
    expect(stored).toMatchObject({ code: 0, stdout: 'stored\n' });
    // nobody accepts now: open() connects at once (into the stored socket's backlog) and waits for the greeting
    const waiting = cs.open(`${app}/test`);
    const resumed = await startFixture('services-app.js', ['resume', app, 'app-listener']);
    expect(resumed.line).toBe('resumed');
    const conn = await waiting;
    conn.write('hello from the backlog\n');
    let reply = '';
    for await (const chunk of conn) reply += chunk;
    expect(reply).toBe('served hello from the backlog\n');
    conn.destroy();
  });

  test('put, list, get and del; refusals keep the connection; nothing leaks', () => {
    const before = openFds();
    const fd = open(FDSTORE);
    const file = openSync(join(root, 'kept'), 'w+');
    writeSync(file, 'kept contents');
    const [pipeR, pipeW] = sys.pipe();
    expect(request(fd, 'put files', [file, pipeR, pipeW])).toBe('ok 3');
    expect(request(fd, 'put one', [file])).toBe('ok 1');
    closeSync(file);
    closeSync(pipeR);
    closeSync(pipeW);
    expect(request(fd, 'list')).toBe('ok 2');
    expect([readLine(fd), readLine(fd)].sort()).toEqual(['files 3', 'one 1']);

    expect(request(fd, 'get files')).toBe('ok 3');
    const { fds } = cs.csrecv(fd, 3);
    const got = Buffer.alloc(32);
    expect(got.toString('utf8', 0, readSync(fds[0]!, got, 0, 32, 0))).toBe('kept contents');
    writeSync(fds[2]!, 'pipe kept too');
    expect(got.toString('utf8', 0, readSync(fds[1]!, got))).toBe('pipe kept too');
    for (const f of fds) closeSync(f);

    expect(request(fd, 'get nothing')).toBe("error ENOENT nothing is stored under 'nothing'");
    expect(request(fd, 'put ../escape')).toMatch(/^error EINVAL a name is 1 to 64/);
    expect(request(fd, 'frobnicate')).toMatch(/^error EINVAL unknown request 'frobnicate'/);
    expect(request(fd, 'del files')).toBe('ok 3');
    expect(request(fd, 'del one')).toBe('ok 1');
    expect(request(fd, 'del one')).toMatch(/^error ENOENT/);
    expect(request(fd, 'list')).toBe('ok 0');
    cs.csclose(fd);
    expect(openFds()).toEqual(before);
  });

  test('a put whose record carries no descriptor is refused and the connection goes on', () => {
    const fd = open(FDSTORE);
    expect(request(fd, 'put empty', [])).toBe('error EINVAL put needs at least one descriptor');
    expect(request(fd, 'list')).toBe('ok 0');
    cs.csclose(fd);
  });

  test('it does not retire while it holds descriptors, and retires once it holds none', async () => {
    process.env.CS_IDLE_MS = '300'; // inherited by the server this process starts
    const fd = open(FDSTORE);
    const pid = serverPid(FDSTORE);
    const kept = openSync(join(root, 'kept'), 'w');
    expect(request(fd, 'put held', [kept])).toBe('ok 1');
    closeSync(kept);
    cs.csclose(fd);
    // several idle periods pass with no client: still the same server, still holding
    await new Promise((r) => setTimeout(r, 1500));
    const again = cs.csopen(`${FDSTORE}/test`);
    expect(serverPid(FDSTORE)).toBe(pid);
    expect(request(again, 'list')).toBe('ok 1');
    expect(readLine(again)).toBe('held 1');
    expect(request(again, 'del held')).toBe('ok 1');
    cs.csclose(again);
    await gone(md(FDSTORE).socket);
  });

  test('a client that floods requests and never reads holds up nobody, and costs the service a bounded amount of memory', async () => {
    const fd = open(FDSTORE);
    const pid = serverPid(FDSTORE)!;
    const [r, w] = sys.pipe();
    // a hundred names: each `list` reply is about a kilobyte
    for (let i = 0; i < 100; i++) expect(request(fd, `put name${String(i).padStart(3, '0')}`, [r])).toBe('ok 1');
    closeSync(r);
    closeSync(w);
    const rss = rssKb(pid);
    const flooder = cs.csopen(FDSTORE);
    const requests = await flood(flooder, 'list\n', 5000);
    expect(requests).toBeGreaterThan(10000); // its own socket buffers hold that many unread
    const other = cs.csopen(FDSTORE);
    expect(timed(() => {
      expect(request(other, 'get name001')).toBe('ok 1');
      closeSync(cs.csrecv(other, 1).fds[0]!);
    })).toBeLessThan(2000);
    // unbounded, the replies to what the flooder sent would be tens of megabytes
    await settled(pid);
    expect(rssKb(pid) - rss).toBeLessThan(8 * 1024);
    for (const f of [flooder, other, fd]) cs.csclose(f);
  });

  testIf(isRoot, 'needs root to run a client as a second user')('each uid sees only its own names', async () => {
    const uid = secondUser();
    const before = openFds();
    const fd = open(FDSTORE);
    const file = openSync(join(root, 'secret'), 'w');
    expect(request(fd, 'put secret', [file])).toBe('ok 1');
    closeSync(file);
    const other = await runFixture('services-fdstore-peek.js', ['secret'], { asUser: uid });
    expect(other.stdout).toBe("ok 0\nerror ENOENT nothing is stored under 'secret'\n");
    expect(request(fd, 'del secret')).toBe('ok 1');
    cs.csclose(fd);
    expect(openFds()).toEqual(before);
  });
});

describe('opener', () => {
  let tree: string;
  let files: string;

  /** An opener launch entry on a test CS_PATH, with `allow` as its allow-list. */
  function opener(allow: string): string {
    const name = `opener${process.pid}x${seq++}`;
    const dir = join(tree, 'lib', 'cs', 'fdp', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'server'), `#!/bin/sh\nexec node '${join(ROOT_DIR, 'dist/cs-services/opener/main.js')}' "$1" "$(dirname "$0")/allow"\n`);
    chmodSync(join(dir, 'server'), 0o755);
    writeFileSync(join(dir, 'allow'), allow);
    return `/dev/fdp/local/${name}`;
  }

  beforeEach(() => {
    tree = mkdtempSync(join(tmpdir(), 'cs-opener-'));
    process.env.CS_PATH = tree;
    files = join(tree, 'files');
    mkdirSync(join(files, 'public', 'deep'), { recursive: true });
    mkdirSync(join(files, 'private'));
    writeFileSync(join(files, 'public', 'notes.txt'), 'public notes');
    writeFileSync(join(files, 'public', 'deep', 'a.log'), 'deep log');
    writeFileSync(join(files, 'private', 'secret'), 'secret');
    symlinkSync(join(files, 'private', 'secret'), join(files, 'public', 'escape.txt'));
    symlinkSync(join(files, 'private'), join(files, 'public', 'door'));
    symlinkSync(join(files, 'public', 'notes.txt'), join(files, 'public', 'alias.txt'));
  });
  afterEach(() => removeRoot(tree));

  test('an allowed file is opened and its descriptor works in the client; other paths and tricks are refused', () => {
    const path = opener(`# test allow-list\n${files}/public/*.txt\n${files}/public/**.log\n`);
    const before = openFds();
    const fd = open(path);
    expect(request(fd, `${files}/public/notes.txt`)).toBe('ok');
    const [notes] = cs.csrecv(fd, 1).fds;
    const buf = Buffer.alloc(64);
    expect(buf.toString('utf8', 0, readSync(notes!, buf, 0, 64, 0))).toBe('public notes');
    expect(() => writeSync(notes!, 'x')).toThrow(expect.objectContaining({ code: 'EBADF' })); // read-only
    closeSync(notes!);
    expect(request(fd, `${files}/public/deep/a.log`)).toBe('ok');
    closeSync(cs.csrecv(fd, 1).fds[0]!);

    expect(request(fd, `${files}/private/secret`)).toBe(`error EACCES '${files}/private/secret' is not on the allow-list`);
    expect(request(fd, `${files}/public/../private/secret`)).toMatch(/^error EACCES '\.\.' is not allowed/);
    expect(request(fd, `${files}/public/deep/../../private/secret.txt`)).toMatch(/^error EACCES '\.\.' is not allowed/);
    // a link out of the allowed tree is refused before anything is opened
    expect(request(fd, `${files}/public/escape.txt`)).toBe(`error EACCES '${files}/private/secret' is not on the allow-list`);
    // a final link is refused even when it leads to an allowed file
    expect(request(fd, `${files}/public/alias.txt`)).toMatch(/^error ELOOP .* is a symbolic link/);
    // a directory link inside the allowed tree leads out of it: the file actually opened decides
    expect(request(fd, `${files}/public/door/secret`)).toBe(`error EACCES '${files}/private/secret' is not on the allow-list`);
    expect(request(fd, 'public/notes.txt')).toMatch(/^error EINVAL .* is not an absolute path/);
    expect(request(fd, `${files}/public/missing.txt`)).toMatch(/^error ENOENT cannot open/);
    cs.csclose(fd);
    expect(openFds()).toEqual(before);
  });

  test('a client that floods requests and never reads holds up nobody; the descriptors it costs the service are bounded', async () => {
    const path = opener(`${files}/public/*.txt\n`);
    const fd = open(path);
    const pid = serverPid(path)!;
    expect(request(fd, `${files}/public/notes.txt`)).toBe('ok');
    closeSync(cs.csrecv(fd, 1).fds[0]!);
    const rss = rssKb(pid);
    const flooder = cs.csopen(path);
    const requests = await flood(flooder, `${files}/public/notes.txt\n`, 5000);
    expect(requests).toBeGreaterThan(2000);
    expect(timed(() => {
      expect(request(fd, `${files}/public/notes.txt`)).toBe('ok');
      closeSync(cs.csrecv(fd, 1).fds[0]!);
    })).toBeLessThan(2000);
    // one opened file per reply: unbounded, one per request the flooder sent
    await settled(pid);
    expect(fdCount(pid)).toBeLessThan(400);
    expect(rssKb(pid) - rss).toBeLessThan(8 * 1024);
    cs.csclose(flooder);
    cs.csclose(fd);
  });

  test('the bundled opener allows nothing until its allow-list names files', () => {
    delete process.env.CS_PATH;
    const fd = open('/dev/fdp/local/opener');
    expect(request(fd, '/etc/hostname')).toBe("error EACCES '/etc/hostname' is not on the allow-list");
    cs.csclose(fd);
  });

  test('a non-regular file is refused even when allowed', () => {
    const path = opener(`${files}/**\n`);
    const fd = open(path);
    expect(request(fd, `${files}/public`)).toMatch(/^error EINVAL .* is not a regular file/);
    cs.csclose(fd);
  });
});

describe('launch entries of the package', () => {
  test('every bundled service has an executable server that finds the package root from its real path', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'cs-entry-'));
    try {
      for (const svc of ['echo', 'fdstore', 'opener']) {
        const entry = findLaunchEntry('fdp', svc)!;
        expect(entry.dir).toBe(join(ROOT_DIR, 'lib', 'cs', 'fdp', svc));
        // run through a symbolic link from another directory, with a bad path: it loads its service, which refuses the path
        const link = join(elsewhere, svc);
        symlinkSync(entry.server, link);
        const run = spawnSync(link, ['/dev/nowhere'], { encoding: 'utf8' });
        expect(run.stderr).toContain(`${svc}: EINVAL`);
        expect(run.status).toBe(1);
      }
    } finally {
      removeRoot(elsewhere);
    }
  });
});
