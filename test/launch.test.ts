// Services on demand with real processes: launch entries on a test-only CS_PATH,
// race-free auto-start, start failures, the same server under auto-start, by hand
// and with a hand-made LISTEN_FDS, libcs-style .svc servers, hosts files, idle exit.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, readSync, renameSync, symlinkSync, watch, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { createMountDir, mountDir, type MountDir } from '../src/namespace';
import { parsePath } from '../src/path';
import { findLaunchEntry, findService } from '../src/namespace/entry';
import { idlePeriod, DEFAULT_IDLE_MS } from '../src/launch/lifetime';
import { FIXTURES, openFds, removeRoot, runFixture, startFixture, type Started, serviceTreeEachTest, echoed } from './helpers';

let seq = 0;
const unique = (what: string) => `${what}${process.pid}x${seq++}`;
const ctx = serviceTreeEachTest('cs-launch-', { env: { CS_IDLE_MS: undefined } });

interface TestService {
  name: string;
  path: `/dev/fdp/${string}`;
  starts: string;
  md: () => MountDir;
}

/**
 * A launch entry lib/cs/fdp/<name>/<file> on the test CS_PATH that runs a fixture,
 * with its own start counter and environment.
 */
function addService(what: string, opts: { env?: Record<string, string>; svc?: boolean; fixture?: string; hosts?: string } = {}): TestService {
  const name = unique(what);
  const dir = join(ctx.tree, 'lib', 'cs', 'fdp', name);
  mkdirSync(dir, { recursive: true });
  const starts = join(ctx.tree, `${name}.starts`);
  const env = { CS_TEST_STARTS: starts, ...opts.env };
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v}'\n`).join('');
  const run = opts.fixture ?? `node '${join(FIXTURES, 'launch-server.js')}'`;
  const file = join(dir, opts.svc ? `${name}.svc` : 'server');
  writeFileSync(file, `#!/bin/sh\n${exports}exec ${run} "$@"\n`);
  chmodSync(file, 0o755);
  if (opts.hosts !== undefined) writeFileSync(join(dir, 'hosts'), opts.hosts);
  const path: `/dev/fdp/${string}` = `/dev/fdp/local/${name}`;
  return { name, path, starts, md: () => mountDir(parsePath(path), findService('fdp', name).svc?.uid ?? null) };
}

/** The server starts recorded so far: [pid, 'inherited' | 'created'] per line; their pids are killed after the test. */
function starts(s: TestService): [number, string][] {
  if (!existsSync(s.starts)) return [];
  const lines = readFileSync(s.starts, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split(' '));
  const found = lines.map(([pid, how]) => [Number(pid), how!] as [number, string]);
  for (const [pid] of found) if (!ctx.servers.includes(pid)) ctx.servers.push(pid);
  return found;
}

function roundTrip(fd: number, text = 'hello'): string {
  writeSync(fd, text);
  const buf = Buffer.alloc(text.length);
  let got = 0;
  while (got < text.length) {
    if (cs.cspoll([{ fd, events: 'r' }], 10000).length === 0) throw new Error('no echo within 10 s');
    const n = readSync(fd, buf, got, text.length - got, null);
    if (n === 0) break;
    got += n;
  }
  return buf.toString('utf8', 0, got);
}

/** Resolve once `file` no longer exists (inotify through fs.watch), bounded by `ms`. */
function gone(file: string, ms = 10000): Promise<void> {
  return new Promise((resolve, reject) => {
    const dir = join(file, '..');
    const timer = setTimeout(() => {
      w.close();
      reject(new Error(`${file} still exists after ${ms} ms`));
    }, ms);
    const check = () => {
      if (existsSync(file)) return;
      clearTimeout(timer);
      w.close();
      resolve();
    };
    const w = watch(dir, check);
    check();
  });
}

/** True once `pid` has exited (a bounded check loop: the process is not our child to wait for). */
async function exited(pid: number, ms = 10000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      process.kill(pid, 0);
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return true;
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** The X-cs.mnt lock is free: another open file description can take it without waiting. */
function lockIsFree(md: MountDir): boolean {
  const fd = openSync(md.lock, 'r');
  try {
    const free = sys.flock(fd, sys.LOCK_EX | sys.LOCK_NB);
    if (free) sys.flock(fd, sys.LOCK_UN);
    return free;
  } finally {
    closeSync(fd);
  }
}

describe('auto-start', () => {
  test('in a fresh namespace, csopen starts the server once, records its pid, and a round trip works', () => {
    const s = addService('echo');
    const before = openFds();
    const fd = cs.csopen(s.path);
    expect(cs.cspath(fd)).toBe(s.path);
    expect(roundTrip(fd)).toBe('hello');
    cs.csclose(fd);
    const fd2 = cs.csopen(s.path);
    expect(roundTrip(fd2, 'again')).toBe('again');
    cs.csclose(fd2);
    expect(openFds()).toEqual(before);

    const started = starts(s);
    expect(started).toHaveLength(1);
    expect(started[0]![1]).toBe('inherited');
    const md = s.md();
    expect(readlinkSync(md.pidLink)).toBe(`/proc/${started[0]![0]}`);
    // libcs sees no server entry, so it gives no sid: the perm directory is the plain one
    expect(md.dir.endsWith('/--')).toBe(true);
    expect(readFileSync(md.log, 'utf8')).toContain('ready');
  });

  test('async open() starts the server the same way', async () => {
    const s = addService('aecho');
    const conn = await cs.open(s.path);
    expect(await echoed(conn)).toBe('hello');
    conn.destroy();
    expect(starts(s)).toHaveLength(1);
  });

  test('twenty clients opening a stopped service at the same moment start exactly one server, and all are served', async () => {
    const s = addService('race');
    const clients: Started[] = await Promise.all(Array.from({ length: 20 }, () => startFixture('launch-client.js', [s.path], { ms: 30000 })));
    for (const c of clients) c.child.stdin!.write('go\n');
    const results = await Promise.all(clients.map((c) => new Promise<string>((resolve) => {
      if (c.lines.length) return resolve(c.lines[0]!);
      c.child.stdout!.once('data', (d) => resolve(String(d).trim()));
    })));
    expect(results).toEqual(Array(20).fill('ok ping'));
    expect(starts(s)).toHaveLength(1);
  }, 60000);

  test('the path option `test` and the flag CS_OPEN_TEST never start a service', async () => {
    const s = addService('tst');
    expect(() => cs.csopen(`${s.path}/test`)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => cs.csopen(s.path, cs.CS_OPEN_TEST)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    await expect(cs.open(`${s.path}/test`)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(starts(s)).toHaveLength(0);
  });

  test('a service with no server and no launch entry fails ENOENT at once, saying so', () => {
    expect(() => cs.csopen(`/dev/fdp/local/${unique('nothing')}`)).toThrow(/no launch entry was found/);
  });

  test('a server that dies on start fails csopen with its log tail (a reset, not a timeout), leaving nothing locked', async () => {
    process.env.CS_TIMEOUT_MS = '60000'; // a timeout would be ETIMEDOUT after a minute: the error must come from the crash
    try {
      const s = addService('crash', { env: { CS_TEST_CRASH: 'fatal: missing config /etc/nowhere.conf' } });
      const before = openFds();
      let err: cs.CsError | undefined;
      try {
        cs.csopen(s.path);
      } catch (e) {
        err = e as cs.CsError;
      }
      expect(err).toMatchObject({ code: 'ECONNRESET', syscall: 'csopen', path: s.path });
      expect(err!.message).toMatch(/exited before accepting; last lines of .*L-cs\.mnt:\n {2}fatal: missing config \/etc\/nowhere\.conf/);
      expect(openFds()).toEqual(before);
      const md = s.md();
      expect(lockIsFree(md)).toBe(true);
      expect(existsSync(md.socket)).toBe(false);
      expect(existsSync(md.pidLink)).toBe(false);

      // again, asynchronously: same error; the previous log was kept as O-cs.mnt
      await expect(cs.open(s.path)).rejects.toMatchObject({ code: 'ECONNRESET', message: expect.stringContaining('fatal: missing config') });
      expect(readFileSync(md.oldLog, 'utf8')).toContain('fatal: missing config');
      expect(lockIsFree(md)).toBe(true);
    } finally {
      delete process.env.CS_TIMEOUT_MS;
    }
  });

  test('a server that cannot be executed is reported with the shell error from its log', () => {
    const s = addService('noexec', { fixture: `'${join(ctx.tree, 'does-not-exist')}'` });
    expect(() => cs.csopen(s.path)).toThrow(/exited before accepting; last lines of .*\n.*does-not-exist/);
  });
});

describe('a planted lock file', () => {
  test.each([
    ['a FIFO', (lock: string) => spawnSync('mkfifo', [lock])],
    ['a symbolic link', (lock: string) => symlinkSync(join(ctx.tree, 'elsewhere'), lock)],
  ])('%s at X-cs.mnt makes csopen and open() fail at once, naming the file and what it is', async (what, plant) => {
    const s = addService('planted');
    const md = s.md();
    createMountDir(md);
    plant(md.lock);
    // in a child, so a lock open that waits for a FIFO's writer cannot hang this process
    const r = await runFixture('launch-client.js', [s.path, 'now'], { ms: 8000 });
    expect(r.stdout).toContain(`error EINVAL EINVAL: invalid argument, open '${md.lock}': the service's lock file is ${what}, not a regular file; remove it`);
    await expect(cs.open(s.path)).rejects.toMatchObject({ code: 'EINVAL', path: md.lock });
    expect(starts(s)).toHaveLength(0);
  });
});

describe('one server program, three ways to run it', () => {
  test('(a) started by cs auto-start it serves on the socket it was handed', () => {
    const s = addService('three');
    const fd = cs.csopen(s.path);
    expect(roundTrip(fd)).toBe('hello');
    cs.csclose(fd);
    expect(starts(s).map(([, how]) => how)).toEqual(['inherited']);
  });

  test('(b) started by hand it creates the socket itself and serves', async () => {
    const s = addService('three');
    const server = await startFixture('launch-server.js', [s.path], { env: { CS_TEST_STARTS: s.starts } });
    expect(server.line).toMatch(/^ready \d+ created$/);
    const fd = cs.csopen(`${s.path}/test`);
    expect(roundTrip(fd)).toBe('hello');
    cs.csclose(fd);
    expect(starts(s)).toEqual([[server.child.pid, 'created']]);
    expect(readlinkSync(s.md().pidLink)).toBe(`/proc/${server.child.pid}`);
  });

  test('(c) given a hand-made LISTEN_FDS it adopts that socket, records itself, and serves', async () => {
    const s = addService('three');
    const listenFd = cs.csopen(s.path, cs.CS_OPEN_CREATE);
    expect(readlinkSync(s.md().pidLink)).toBe(`/proc/${process.pid}`);
    const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec node "$0" "$1"', join(FIXTURES, 'launch-server.js'), s.path], {
      env: { ...process.env, CS_TEST_STARTS: s.starts },
      stdio: ['ignore', 'pipe', 'inherit', listenFd],
    });
    const ready = await new Promise<string>((resolve) => child.stdout!.once('data', (d) => resolve(String(d).trim())));
    cs.csclose(listenFd);
    expect(ready).toBe(`ready ${child.pid} inherited`);
    ctx.servers.push(child.pid!);
    const fd = cs.csopen(`${s.path}/test`);
    expect(roundTrip(fd)).toBe('hello');
    cs.csclose(fd);
    expect(readlinkSync(s.md().pidLink)).toBe(`/proc/${child.pid}`);
  });

  test('LISTEN_FDS meant for another pid is ignored: the server creates its own socket', async () => {
    const s = addService('otherpid');
    const server = await startFixture('launch-server.js', [s.path], { env: { LISTEN_PID: '1', LISTEN_FDS: '1' } });
    expect(server.line).toMatch(/created$/);
  });

  test('a LISTEN_FDS descriptor that is not a listening socket is refused with a clear error', async () => {
    const s = addService('notsock');
    const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec node "$0" "$1" 3</dev/null', join(FIXTURES, 'launch-server.js'), s.path], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/fd 3 from LISTEN_FDS is not a listening AF_UNIX or tcp socket/);
  });
});

describe('server lifetime', () => {
  test('SIGTERM stops the server and removes S-cs.mnt and P-cs.mnt', async () => {
    const s = addService('term');
    cs.csclose(cs.csopen(s.path));
    const [[pid]] = starts(s) as [[number, string]];
    const md = s.md();
    process.kill(pid, 'SIGTERM');
    await gone(md.socket);
    expect(existsSync(md.pidLink)).toBe(false);
    expect(await exited(pid)).toBe(true);
  });

  test('an idle server retires after $CS_IDLE_MS, removing its records; the next open starts a new one', async () => {
    const s = addService('idle', { env: { CS_IDLE_MS: '300' } });
    const fd = cs.csopen(s.path);
    expect(roundTrip(fd)).toBe('hello');
    const md = s.md();
    cs.csclose(fd);
    await gone(md.socket);
    expect(existsSync(md.pidLink)).toBe(false);
    const [[first]] = starts(s) as [[number, string]];
    expect(await exited(first)).toBe(true);
    cs.csclose(cs.csopen(s.path));
    expect(starts(s)).toHaveLength(2);
  });

  test('the idle period: the option, else $CS_IDLE_MS, else five minutes; `slave` never retires', () => {
    expect(idlePeriod(undefined, false)).toBe(DEFAULT_IDLE_MS);
    expect(DEFAULT_IDLE_MS).toBe(300000);
    expect(idlePeriod(1234, false)).toBe(1234);
    expect(idlePeriod(1234, true)).toBe(0);
    process.env.CS_IDLE_MS = '42';
    expect(idlePeriod(undefined, false)).toBe(42);
    expect(idlePeriod(7, false)).toBe(7);
    process.env.CS_IDLE_MS = 'soon';
    expect(idlePeriod(undefined, false)).toBe(DEFAULT_IDLE_MS);
  });
});

describe('libcs-style <service>.svc servers', () => {
  const svcFixture = `node '${join(FIXTURES, 'launch-svc.js')}'`;

  test('csopen runs the .svc, waits for it to exit and for its daemon to listen, then connects', () => {
    const s = addService('svc', { fixture: svcFixture, svc: true });
    expect(findLaunchEntry('fdp', s.name)!.svc).toBe(true);
    const fd = cs.csopen(s.path);
    // the owner of a .svc is libcs's sid
    expect(s.md().dir.endsWith(`/${process.geteuid!()}--`)).toBe(true);
    expect(roundTrip(fd)).toBe('hello');
    cs.csclose(fd);
    expect(starts(s).map(([, how]) => how)).toEqual(['created']);
  });

  test('five clients racing to start a .svc service run it once', async () => {
    const s = addService('svcrace', { fixture: svcFixture, svc: true });
    const conns = await Promise.all(Array.from({ length: 5 }, () => cs.open(s.path)));
    for (const c of conns) expect(await echoed(c, 'svc')).toBe('svc');
    for (const c of conns) c.destroy();
    expect(starts(s)).toHaveLength(1);
  });

  test('a .svc that fails is reported with its exit status and log tail', () => {
    const s = addService('svcfail', { fixture: "sh -c 'echo no license >&2; exit 9'", svc: true });
    expect(() => cs.csopen(s.path)).toThrow(/exited with status 9; last lines of .*\n {2}no license/);
  });
});

describe('hosts files', () => {
  test('remote hosts are skipped with a warning and `share` further down (for fdp: this host) starts the service here', async () => {
    const s = addService('hosts', { hosts: '# where it may run\nfar.example.com\nshare\nlocal\n' });
    const client = await runFixture('launch-client.js', [s.path, 'now']);
    expect(client.stdout).toBe('waiting\nok ping\n');
    expect(client.stderr).toMatch(/skipping host 'far\.example\.com' listed in .*hosts: an fdp service can start only on this host/);
    expect(client.stderr).not.toMatch(/skipping host 'share'/);
    expect(starts(s)).toHaveLength(1);
  });

  test('a hosts file that names only other hosts refuses to start here: EHOSTUNREACH', async () => {
    const s = addService('farhosts', { hosts: 'far.example.com\n' });
    const client = await runFixture('launch-client.js', [s.path, 'now']);
    expect(client.stdout).toMatch(/^waiting\nerror EHOSTUNREACH .*no host in .*hosts can start the service \(skipped: far\.example\.com\)\n$/);
    expect(starts(s)).toHaveLength(0);
  });
});

describe('launch entries', () => {
  test('found on CS_PATH before the package, with the owner of the entry as sid', () => {
    const s = addService('found');
    const entry = findLaunchEntry('fdp', s.name)!;
    expect(entry.dir).toBe(join(ctx.tree, 'lib', 'cs', 'fdp', s.name));
    expect(entry.svc).toBe(false);
    expect(entry.uid).toBe(process.geteuid!());
    expect(findLaunchEntry('fdp', 'echo')!.dir).toMatch(/\/lib\/cs\/fdp\/echo$/);
  });

  test('a .svc further down the path names the sid even when a server entry before it starts the service', () => {
    const s = addService('sid');
    const later = mkdtempSync(join(tmpdir(), 'cs-launch-'));
    try {
      const svc = join(later, 'lib', 'cs', 'fdp', s.name, `${s.name}.svc`);
      mkdirSync(join(svc, '..'), { recursive: true });
      writeFileSync(svc, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
      process.env.CS_PATH = `${ctx.tree}:${later}`;
      const found = findService('fdp', s.name);
      expect(found.entry).toMatchObject({ server: join(ctx.tree, 'lib', 'cs', 'fdp', s.name, 'server'), svc: false });
      expect(found.svc).toMatchObject({ server: svc, svc: true, uid: process.geteuid!() });
      expect(s.md().dir.endsWith(`/${process.geteuid!()}--`)).toBe(true);
    } finally {
      removeRoot(later);
    }
  });

  test('a service opened while it had no entry starts once its entry appears: added in place, or on a directory added to CS_PATH', () => {
    const s = addService('late');
    const dir = join(ctx.tree, 'lib', 'cs', 'fdp', s.name);
    const hidden = join(ctx.tree, 'hidden');
    renameSync(dir, hidden);
    expect(() => cs.csopen(s.path)).toThrow(expect.objectContaining({ code: 'ENOENT', message: expect.stringMatching(/no launch entry was found/) }));
    renameSync(hidden, dir);
    const fd = cs.csopen(s.path);
    expect(roundTrip(fd)).toBe('hello');
    cs.csclose(fd);
    expect(starts(s)).toHaveLength(1);

    const t = addService('later');
    const later = mkdtempSync(join(tmpdir(), 'cs-launch-'));
    try {
      renameSync(join(ctx.tree, 'lib', 'cs', 'fdp', t.name), join(later, t.name));
      expect(() => cs.csopen(t.path)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
      mkdirSync(join(later, 'lib', 'cs', 'fdp'), { recursive: true });
      renameSync(join(later, t.name), join(later, 'lib', 'cs', 'fdp', t.name));
      process.env.CS_PATH = `${ctx.tree}:${later}`;
      const fd2 = cs.csopen(t.path);
      expect(roundTrip(fd2)).toBe('hello');
      cs.csclose(fd2);
      expect(starts(t)).toHaveLength(1);
    } finally {
      removeRoot(later);
    }
  });

  test('async open: a service opened while it had no entry starts once its entry appears, at once (a recent miss is searched again)', async () => {
    const s = addService('lateasync');
    const dir = join(ctx.tree, 'lib', 'cs', 'fdp', s.name);
    const hidden = join(ctx.tree, 'hidden-async');
    renameSync(dir, hidden);
    await expect(cs.open(s.path)).rejects.toMatchObject({ code: 'ENOENT' });
    renameSync(hidden, dir);
    const conn = await cs.open(s.path);
    expect(await echoed(conn, 'hello')).toBe('hello');
    conn.destroy();
    expect(starts(s)).toHaveLength(1);
  });

  test('a server that is not executable is no launch entry, even after it was found once', () => {
    const s = addService('flaky');
    const server = join(ctx.tree, 'lib', 'cs', 'fdp', s.name, 'server');
    expect(findLaunchEntry('fdp', s.name)).not.toBeNull();
    chmodSync(server, 0o644);
    expect(findLaunchEntry('fdp', s.name)).toBeNull();
  });
});
