// Every option and flag of cs.3 does what it says or is refused naming itself: csopen's
// flags are the path's options, `now` returns with the connect in progress, `local`
// starts here without a remote shell, `remote` starts on the path's host through it,
// `share` picks a live host whatever the hosts file says, `slave` reaches the server,
// CS_OPEN_MOUNT and CS_OPEN_AGENT are refused. Also: a root-started `user=N` instance
// runs as N, and a remote start through an alias makes exactly one remote-shell call.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { hashPort } from '../src/port';
import { FIXTURES, isRoot, outsideEphemeral, runFixture, secondUser, startFixture, testIf, serviceTreeEachTest } from './helpers';

const CLI = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
let seq = 0;
const unique = (what: string) => `${what}${process.pid}o${seq++}`;
const ctx = serviceTreeEachTest('cs-options-', { mode: 0o755, env: { CS_REMOTE_SHELL: undefined, CS_HOSTS_FILE: undefined, CS_STAT_DIR: undefined } });

/** A launch entry lib/cs/<proto>/<name>/server running launch-server.js (fdp) or net-server.js echo (tcp), appending its pid to <name>.starts. */
function addService(proto: 'fdp' | 'tcp', what: string, hosts?: string): { name: string; starts: () => number[] } {
  const name = unique(what);
  const dir = join(ctx.tree, 'lib', 'cs', proto, name);
  mkdirSync(dir, { recursive: true });
  const starts = join(ctx.tree, `${name}.starts`);
  writeFileSync(starts, '', { mode: 0o666 });
  chmodSync(starts, 0o666);
  const run = proto === 'fdp'
    ? `export CS_TEST_STARTS='${starts}'\nexec "${process.execPath}" "${join(FIXTURES, 'launch-server.js')}" "$@"`
    : `echo $$ >> '${starts}'\nexec "${process.execPath}" "${join(FIXTURES, 'net-server.js')}" "$1" echo`;
  writeFileSync(join(dir, 'server'), `#!/bin/sh\n${run}\n`, { mode: 0o755 });
  if (hosts !== undefined) writeFileSync(join(dir, 'hosts'), hosts);
  return {
    name,
    starts: () => {
      if (!existsSync(starts)) return [];
      const pids = readFileSync(starts, 'utf8').trim().split('\n').filter(Boolean).map((l) => Number(l.split(' ')[0]));
      for (const pid of pids) if (!ctx.servers.includes(pid)) ctx.servers.push(pid);
      return pids;
    },
  };
}

describe('csopen flags are the path\'s options', () => {
  test('CS_OPEN_MOUNT and CS_OPEN_AGENT are refused with EINVAL naming them', () => {
    const path = `/dev/fdp/local/${unique('flags')}`;
    expect(() => cs.csopen(path, cs.CS_OPEN_MOUNT)).toThrow(expect.objectContaining({ code: 'EINVAL', path, message: expect.stringContaining('CS_OPEN_MOUNT') }));
    expect(() => cs.csopen(path, cs.CS_OPEN_AGENT)).toThrow(expect.objectContaining({ code: 'EINVAL', path, message: expect.stringContaining('CS_OPEN_AGENT') }));
  });

  test('CS_OPEN_TEST is the test option: a service with a launch entry is not started', () => {
    const s = addService('fdp', 'test');
    expect(() => cs.csopen(`/dev/fdp/local/${s.name}`, cs.CS_OPEN_TEST)).toThrow(expect.objectContaining({ code: 'ENOENT', path: `/dev/fdp/local/${s.name}/test` }));
    expect(s.starts()).toEqual([]);
  });

  test('CS_OPEN_SLAVE reaches the started server as its path\'s slave option: it does not retire when idle', async () => {
    const s = addService('fdp', 'slave');
    process.env.CS_IDLE_MS = '300';
    try {
      const fd = cs.csopen(`/dev/fdp/local/${s.name}`, cs.CS_OPEN_SLAVE);
      expect(cs.cspath(fd)).toBe(`/dev/fdp/local/${s.name}/slave`);
      cs.csclose(fd);
    } finally {
      delete process.env.CS_IDLE_MS;
    }
    const [pid] = s.starts();
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain(`/dev/fdp/local/${s.name}/slave`);
    await new Promise((r) => setTimeout(r, 1500));
    expect(existsSync(`/proc/${pid}`)).toBe(true);
  });

  test('now and remote on an fdp path, and now in open(), are refused with EINVAL naming them', async () => {
    const path = `/dev/fdp/local/${unique('now')}`;
    expect(() => cs.csopen(`${path}/now`)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('now:') }));
    expect(() => cs.csopen(path, cs.CS_OPEN_NOW)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('now:') }));
    expect(() => cs.csopen(path, cs.CS_OPEN_REMOTE)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('remote:') }));
    await expect(cs.open(`/dev/tcp/local/${unique('now')}/now`)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('now:') });
    expect(() => cs.csopen(`/dev/tcp/local/${unique('now')}/user/now`)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('now:') }));
  });
});

describe('now: the tcp connect is started, not waited for', () => {
  /** A tcp listener with a full backlog that never accepts: new connects stay in progress (the kernel drops their SYNs). */
  function fullListener(): { fd: number; port: number; queued: number[] } {
    const fd = sys.socket(sys.AF_INET, sys.SOCK_STREAM);
    sys.bind(fd, sys.inetAddr('127.0.0.1', 0));
    sys.listen(fd, 0);
    const port = sys.localInet(fd).port;
    const queued: number[] = [];
    for (let i = 0; i < 2; i++) {
      const q = sys.socket(sys.AF_INET, sys.SOCK_STREAM | sys.SOCK_NONBLOCK);
      sys.connect(q, sys.inetAddr('127.0.0.1', port));
      queued.push(q);
    }
    return { fd, port, queued };
  }

  test('csopen /now returns at once a non-blocking fd whose connect is still in progress; without it csopen waits and times out', () => {
    const l = fullListener();
    process.env.CS_TIMEOUT_MS = '700';
    try {
      // Returning an fd at all shows it did not wait: a waiting csopen ends in ETIMEDOUT below.
      const fd = cs.csopen(`/dev/tcp/127.0.0.1/${l.port}/now`);
      expect(sys.isNonBlocking(fd)).toBe(true);
      expect(cs.cspoll([{ fd, events: 'w' }], 0)).toEqual([]);
      cs.csclose(fd);
      expect(() => cs.csopen(`/dev/tcp/127.0.0.1/${l.port}`)).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    } finally {
      delete process.env.CS_TIMEOUT_MS;
      for (const fd of [l.fd, ...l.queued]) sys.close(fd);
    }
  });

  test('csopen /now to a server that answers gives a stream that becomes writable, then carries data', async () => {
    const srv = cs.csopen(`/dev/tcp/local/${unique('nowok')}`, cs.CS_OPEN_CREATE);
    try {
      const port = Number(cs.cspath(srv).split('/').pop());
      const fd = cs.csopen(`/dev/tcp/127.0.0.1/${port}`, cs.CS_OPEN_NOW);
      if (sys.isNonBlocking(fd)) expect(cs.cspoll([{ fd, events: 'w' }], 5000)).toEqual([{ fd, readable: false, writable: true }]);
      const { fds: [conn] } = cs.csrecv(srv);
      writeSync(fd, 'now');
      const buf = Buffer.alloc(3);
      expect(readSync(conn, buf)).toBe(3);
      cs.csclose(fd);
      sys.close(conn);
    } finally {
      cs.csclose(srv);
    }
  });
});

describe('where a tcp service starts', () => {
  /** A remote shell that counts its calls in `count` and runs the command here, with `cs` on its PATH. */
  function countingShell(): string {
    const bin = join(ctx.tree, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'cs'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
    const rsh = join(ctx.tree, 'rsh');
    writeFileSync(rsh, `#!/bin/sh\necho "$*" >> '${join(ctx.tree, 'rsh.calls')}'\nshift\nPATH="${bin}:$PATH" exec sh -c "$*"\n`, { mode: 0o755 });
    return rsh;
  }
  const calls = () => (existsSync(join(ctx.tree, 'rsh.calls')) ? readFileSync(join(ctx.tree, 'rsh.calls'), 'utf8').trim().split('\n') : []);

  /** An alias for this host that cs does not count as this host: 127.0.0.2 is on no interface's list, yet loopback answers it. */
  function alias(): string {
    const file = join(ctx.tree, 'hosts.alias');
    writeFileSync(file, '127.0.0.2 faraway\n');
    process.env.CS_HOSTS_FILE = file;
    return 'faraway';
  }

  test('a start through an alias host makes exactly one remote-shell call, whose cs starts the service where it runs (local)', async () => {
    const host = alias();
    const s = addService('tcp', 'alias', `${host}\n`);
    process.env.CS_REMOTE_SHELL = countingShell();
    const r = await runFixture('net-csopen.js', [`/dev/tcp/${host}/${s.name}`, 'via alias']);
    expect(JSON.parse(r.stdout)).toEqual({ path: `/dev/tcp/127.0.0.2/${hashPort(s.name)}`, reply: 'via alias' });
    expect(calls()).toEqual([`${host} cs '/dev/tcp/local/${s.name}/local'`]);
    expect(s.starts()).toHaveLength(1);
  });

  test('local: started here although the hosts file names only another host; no remote shell runs', async () => {
    const s = addService('tcp', 'local', 'faraway\n');
    alias();
    process.env.CS_REMOTE_SHELL = countingShell();
    const r = await runFixture('net-csopen.js', [`/dev/tcp/local/${s.name}/local`, 'here']);
    expect(JSON.parse(r.stdout)).toMatchObject({ reply: 'here' });
    expect(calls()).toEqual([]);
    expect(s.starts()).toHaveLength(1);
  });

  test('remote: started on the path\'s host through the remote shell even when that is this host; the hosts file is not read', async () => {
    const s = addService('tcp', 'remote', 'local\n');
    process.env.CS_REMOTE_SHELL = countingShell();
    const host = alias();
    const r = await runFixture('net-csopen.js', [`/dev/tcp/${host}/${s.name}/remote`, 'there']);
    expect(JSON.parse(r.stdout)).toMatchObject({ reply: 'there' });
    expect(calls()).toEqual([`${host} cs '/dev/tcp/local/${s.name}/local'`]);
    expect(s.starts()).toHaveLength(1);
  });

  test('share: the least-loaded live host (none known here), then this host, whatever the hosts file lists', async () => {
    const s = addService('tcp', 'share', 'faraway\n');
    alias();
    process.env.CS_REMOTE_SHELL = join(ctx.tree, 'no-such-shell');
    process.env.CS_STAT_DIR = mkdtempSync(join(ctx.tree, 'stat-'));
    const without = await runFixture('net-csopen.js', [`/dev/tcp/local/${s.name}`, 'x']);
    expect(JSON.parse(without.stdout)).toMatchObject({ error: 'EHOSTUNREACH' });
    const r = await runFixture('net-csopen.js', [`/dev/tcp/local/${s.name}/share`, 'shared']);
    expect(JSON.parse(r.stdout)).toMatchObject({ reply: 'shared' });
    expect(s.starts()).toHaveLength(1);
  });

  test('share in an fdp service\'s hosts file means what no hosts file means: here', async () => {
    const s = addService('fdp', 'fdpshare', 'share\n');
    const fd = cs.csopen(`/dev/fdp/local/${s.name}`);
    cs.csclose(fd);
    expect(s.starts()).toHaveLength(1);
  });
});

describe('root starts another user\'s instance', () => {
  testIf(isRoot, 'needs root and a second user')('a root-started user=N server runs as N with N\'s groups, and N\'s client accepts it', async () => {
    const uid = secondUser();
    const s = addService('fdp', 'userN');
    const path = `/dev/fdp/local/${s.name}/user=${uid}`;
    // root starts it; the server admits only N, so root itself is turned away after the start
    expect(() => cs.csopen(path)).toThrow(expect.objectContaining({ code: 'EACCES' }));
    const [pid] = s.starts();
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'mu').exec(status)![1].split(/\s+/u).filter(Boolean).map(Number);
    expect(field('Uid')).toEqual([uid, uid, uid, uid]);
    const gid = Number(readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.split(':')[2] === String(uid))!.split(':')[3]);
    expect(field('Gid')).toEqual([gid, gid, gid, gid]);
    expect(field('Groups')).toContain(gid);
    const r = await runFixture('net-csopen.js', [path, 'as N'], { asUser: uid });
    expect(JSON.parse(r.stdout)).toEqual({ path, reply: 'as N' });
    expect(s.starts()).toEqual([pid]);
  });
});

describe('tcp services of this host listen on IPv6 and IPv4', () => {
  const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  const withExternal = testIf(external !== undefined, 'needs a non-loopback IPv4 address on this host');
  const client = async (path: string, message?: string) => JSON.parse((await runFixture('net-client.js', message === undefined ? [path] : [path, message])).stdout);

  test('a local service answers at [::1], 127.0.0.1 and by name; its peers are known by uid over IPv6 and as IPv4-mapped peers', async () => {
    const name = outsideEphemeral((i) => unique(`dual${i}x`));
    const s = await startFixture('net-server.js', [`/dev/tcp/local/${name}/user`, 'whoami']);
    const port = hashPort(name);
    expect(s.line).toMatch(new RegExp(`^ready /dev/tcp/.+/${port}$`));
    for (const host of ['[::1]', '127.0.0.1', 'local']) {
      const r = await client(`/dev/tcp/${host}/${name}/user`);
      expect(r).toMatchObject({ path: `/dev/tcp/${host === '[::1]' ? '[::1]' : '127.0.0.1'}/${port}` });
      expect(JSON.parse(r.reply)).toMatchObject({ uid: process.geteuid!(), local: true, address: host === '[::1]' ? '::1' : '127.0.0.1' });
    }
  });

  withExternal('a service bound to 127.0.0.1 is loopback-only: found through the namespace, refused at this host\'s other address; local is reachable there', async () => {
    const name = unique('lo');
    await startFixture('net-server.js', [`/dev/tcp/127.0.0.1/${name}`, 'echo']);
    expect(await client(`/dev/tcp/local/${name}`, 'lo')).toMatchObject({ path: `/dev/tcp/127.0.0.1/${hashPort(name)}`, reply: 'lo' });
    expect(await client(`/dev/tcp/${external}/${hashPort(name)}`, 'out')).toMatchObject({ error: 'ECONNREFUSED' });
    const everywhere = unique('all');
    await startFixture('net-server.js', [`/dev/tcp/local/${everywhere}`, 'echo']);
    expect(await client(`/dev/tcp/${external}/${hashPort(everywhere)}`, 'in')).toMatchObject({ reply: 'in' });
  });
});
