// The cs.3 host routines (csname, csaddr and its cache, csntoa, csinet, csfdmax,
// csdaemon), host status (csnote/csstat, the ssd daemon, `share` choice) and the
// remote-shell start of a service, each in real processes and files.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, watch, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import * as net from '../src/net';
import { parsePath } from '../src/path';
import { hashPort } from '../src/port';
import { open } from '../src/open/async';
import { FIXTURES, freshRoot, isRoot, testIf, killFixtures, removeRoot, runFixture, secondUser } from './helpers';

let root: string;
let dir: string;
const started: ChildProcess[] = [];
const ENV = ['CS_HOSTS_FILE', 'CS_STAT_DIR', 'CS_STAT_FREQ', 'CS_REMOTE_SHELL'];

beforeEach(() => {
  root = freshRoot();
  dir = mkdtempSync(join(tmpdir(), 'cs-host-'));
  chmodSync(dir, 0o755);
});
afterEach(async () => {
  for (const c of started.splice(0)) c.kill('SIGKILL');
  await killFixtures();
  removeRoot(root);
  rmSync(dir, { recursive: true, force: true });
  for (const v of ENV) delete process.env[v];
  net.csaddr('', 0); // caching off again for the next test
});

function hostsFile(text: string): void {
  writeFileSync(join(dir, 'hosts'), text);
  process.env.CS_HOSTS_FILE = join(dir, 'hosts');
}

const num = (dotted: string) => dotted.split('.').reduce((n, o) => n * 256 + Number(o), 0);

describe('csname, csaddr, csntoa', () => {
  test('csname is this host\'s name; csaddr of it, of local and of "" is the address others reach it by', () => {
    expect(net.csname()).toBe(hostname());
    const mine = num(net.hostAddress());
    expect(net.csaddr(net.csname())).toBe(mine);
    expect(net.csaddr('local')).toBe(mine);
    expect(net.csaddr('')).toBe(mine);
  });

  test('names resolve through the hosts file; literals need no lookup; unknown or IPv6-only names are ENOTFOUND', () => {
    hostsFile('10.213.9.1 alpha alias-a\n# 10.213.9.3 commented\nfd00::5 sixonly\n');
    expect(net.csaddr('alpha')).toBe(num('10.213.9.1'));
    expect(net.csaddr('ALIAS-A')).toBe(num('10.213.9.1'));
    expect(net.csaddr('192.168.7.8')).toBe(num('192.168.7.8'));
    for (const bad of ['commented', 'sixonly', 'nosuch']) {
      expect(() => net.csaddr(bad)).toThrow(expect.objectContaining({ code: 'ENOTFOUND', hostname: bad }));
    }
  });

  test('cache > 0 keeps answers, < 0 keeps the setting, 0 turns caching off and forgets', () => {
    hostsFile('10.213.9.1 alpha\n');
    expect(net.csaddr('alpha', 1)).toBe(num('10.213.9.1'));
    hostsFile('10.213.9.2 alpha\n');
    expect(net.csaddr('alpha', -1)).toBe(num('10.213.9.1'));
    expect(net.csaddr('alpha', 0)).toBe(num('10.213.9.2'));
    hostsFile('10.213.9.3 alpha\n');
    expect(net.csaddr('alpha', -1)).toBe(num('10.213.9.3'));
  });

  test('csntoa writes n.n.n.n and refuses what is not an address number', () => {
    expect(net.csntoa(0x7f000001)).toBe('127.0.0.1');
    expect(net.csntoa(0)).toBe('0.0.0.0');
    expect(net.csntoa(0xffffffff)).toBe('255.255.255.255');
    expect(net.csntoa(net.csaddr('10.1.2.3'))).toBe('10.1.2.3');
    for (const bad of [-1, 2 ** 32, 1.5, NaN]) expect(() => net.csntoa(bad)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'csntoa' }));
  });
});

describe('csinet', () => {
  test.each([
    ['/dev/tcp/alpha/lookupd', { addr: num('10.213.9.1'), address: '10.213.9.1', port: 28629, proto: 'tcp' }],
    ['/dev/udp/alpha/tst/user', { addr: num('10.213.9.1'), address: '10.213.9.1', port: 7950, proto: 'udp' }],
    ['/dev/tcp/10.0.0.1/8080', { addr: num('10.0.0.1'), address: '10.0.0.1', port: 8080, proto: 'tcp' }],
    ['/dev/udp/alpha', { addr: num('10.213.9.1'), address: '10.213.9.1', port: 0, proto: 'udp' }],
    ['/dev/tcp/[::1]/8080', { addr: 0, address: '::1', port: 8080, proto: 'tcp' }],
    ['/dev/tcp/[::ffff:10.0.0.1]/8080', { addr: num('10.0.0.1'), address: '10.0.0.1', port: 8080, proto: 'tcp' }],
  ])('%s', (path, want) => {
    hostsFile('10.213.9.1 alpha\n');
    expect(net.csinet(path)).toEqual(want);
  });

  test.each([
    ['/dev/tcp/alpha/inet.nosuch', 'ENOENT'],
    ['/dev/tcp/alpha/0', 'EINVAL'],
    ['/dev/tcp/alpha/65536', 'EINVAL'],
    ['/dev/fdp/local/x', 'EINVAL'],
    ['/dev/tcp', 'EINVAL'],
    ['/dev/tcp/nosuch/x', 'ENOTFOUND'],
    ['tcp/alpha/x', 'EINVAL'],
  ])('%s fails with %s', (path, code) => {
    hostsFile('10.213.9.1 alpha\n');
    expect(() => net.csinet(path)).toThrow(expect.objectContaining({ code }));
  });
});

describe('csfdmax and csdaemon', () => {
  test.each([24, 64])('csfdmax is the soft descriptor limit (%d)', (limit) => {
    const script = `console.log(require(${JSON.stringify(join(__dirname, '..', 'dist', 'src', 'net'))}).csfdmax())`;
    const r = spawnSync('sh', ['-c', `ulimit -n ${limit} && exec "$0" -e "$1"`, process.execPath, script], { encoding: 'utf8', timeout: 10000 });
    expect(r.stdout.trim()).toBe(String(limit));
  });

  test('csdaemon: the parent exits 0 and the program carries on in the background, in its own session', async () => {
    const child = spawn(process.execPath, [join(FIXTURES, 'net-daemon.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(child);
    const lines: string[] = [];
    const rl = createInterface({ input: child.stdout! });
    const bothLines = new Promise<void>((resolve) => rl.on('line', (l) => lines.push(l) === 2 && resolve()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no daemon within 10 s: ${lines}`)), 10000)));
    await Promise.race([Promise.all([bothLines, exit]), timeout]).finally(() => clearTimeout(timer));
    expect(await exit).toBe(0);
    const [, parentPid] = lines[0].split(' ').map(Number);
    const [word, pid, sid, marker, result] = lines[1].split(' ');
    try {
      expect(word).toBe('child');
      expect(Number(pid)).not.toBe(parentPid);
      expect(Number(sid)).toBe(Number(pid)); // a session leader: no controlling terminal of ours
      expect(marker).toBe('unset');
      expect(result).toBe('0');
      expect(existsSync(`/proc/${pid}`)).toBe(true);
    } finally {
      process.kill(Number(pid), 'SIGKILL');
    }
  });
});

describe('host status: csnote and csstat', () => {
  const sample = { up: 1000, load: 150, idle: 30, users: 2, pctusr: 12, pctsys: 3 };
  /** `st` is `sample` read back a moment later: its uptime may have run on by a few seconds. */
  const expectReadBack = (st: net.CsStat) => {
    expect({ ...st, up: sample.up }).toEqual(sample);
    expect(st.up - sample.up).toBeGreaterThanOrEqual(0);
    expect(st.up - sample.up).toBeLessThanOrEqual(5);
  };

  beforeEach(() => {
    process.env.CS_STAT_DIR = join(dir, 'stat');
  });

  test('a noted status reads back; its uptime runs on with the file\'s age', () => {
    net.csnote('alpha.example.com', sample);
    expectReadBack(net.csstat('alpha'));
    const file = join(dir, 'stat', 'alpha');
    const past = (Date.now() - 20_000) / 1000;
    utimesSync(file, past, past);
    expect(net.csstat('ALPHA').up).toBe(1020);
  });

  test('a host is down after 3 missed updates: up is minus the seconds since its last one', () => {
    process.env.CS_STAT_FREQ = '10';
    net.csnote('beta', sample);
    const file = join(dir, 'stat', 'beta');
    const t = (Date.now() - 25_000) / 1000;
    utimesSync(file, t, t);
    expect(net.csstat('beta').up).toBeGreaterThan(0);
    const old = (Date.now() - 31_000) / 1000;
    utimesSync(file, old, old);
    const up = net.csstat('beta').up;
    expect(up).toBeLessThanOrEqual(-31);
    expect(up).toBeGreaterThan(-35);
  });

  test('bad names, bad records and unknown hosts fail with the right code', () => {
    expect(() => net.csnote('../etc', sample)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => net.csnote('gamma', { ...sample, load: NaN })).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining("'load'") }));
    expect(() => net.csstat('nobody')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'csstat' }));
    mkdirSync(join(dir, 'stat'));
    writeFileSync(join(dir, 'stat', 'junk'), 'not json');
    expect(() => net.csstat('junk')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  testIf(isRoot, 'a second user needs root')('only the owner of a host\'s status file may note it (EPERM for another user)', async () => {
    net.csnote('delta', sample);
    const r = await runFixture('net-note.js', ['delta'], { asUser: secondUser(), env: { CS_STAT_DIR: join(dir, 'stat') } });
    expect(r.stdout.trim()).toBe('EPERM');
    expectReadBack(net.csstat('delta'));
  });

  test('share picks the least-loaded live host; hosts lists expand share in that order and this host to local', () => {
    const note = (host: string, load: number) => net.csnote(host, { ...sample, load });
    note('busy', 300);
    note('calm', 20);
    note('dead', 0);
    note(hostname(), 100);
    const old = (Date.now() - 1000_000) / 1000;
    utimesSync(join(dir, 'stat', 'dead'), old, old);
    expect(net.pickShareHost()).toBe('calm');
    expect(net.pickShareHost(['busy', 'dead'])).toBe('busy');
    expect(net.pickShareHost(['dead'])).toBe(null);
    expect(net.expandHosts(null)).toEqual(['calm', 'local', 'busy']);
    expect(net.expandHosts(['other', 'share', 'local'])).toEqual(['other', 'calm', 'local', 'busy']);
    expect(net.expandHosts([])).toEqual([]);
  });
});

describe('the status daemon (ssd)', () => {
  test('notes this host\'s status repeatedly, answers clients with it, and its host goes down when it stops', async () => {
    const statDir = join(dir, 'stat');
    process.env.CS_STAT_DIR = statDir;
    process.env.CS_STAT_FREQ = '0.2';
    const path = `/dev/fdp/local/ssd${process.pid}`;
    const ssd = spawn(process.execPath, [join(__dirname, '..', 'dist', 'cs-services', 'ssd', 'main.js'), path], { env: process.env, stdio: 'ignore' });
    started.push(ssd);
    const me = hostname().split('.')[0].toLowerCase();
    // two updates of the status file, seen through file-system events
    const updates = await new Promise<number[]>((resolve, reject) => {
      const seen: number[] = [];
      const timer = setTimeout(() => reject(new Error(`ssd wrote ${seen.length} updates in 10 s`)), 10000);
      const check = () => {
        const m = statSync(join(statDir, me), { throwIfNoEntry: false })?.mtimeMs;
        if (m !== undefined && !seen.includes(m)) seen.push(m);
        if (seen.length >= 2) {
          clearTimeout(timer);
          w.close();
          resolve(seen);
        }
      };
      mkdirSync(statDir, { recursive: true });
      const w = watch(statDir, check);
    });
    expect(updates[1]).toBeGreaterThan(updates[0]);
    const st = net.csstat(me);
    expect(st.up).toBeGreaterThan(0);
    expect(st.load).toBeGreaterThanOrEqual(0);
    expect(Number.isInteger(st.load)).toBe(true);
    for (const pct of [st.pctusr, st.pctsys, st.pctusr + st.pctsys]) {
      expect(pct).toBeGreaterThanOrEqual(0);
      expect(pct).toBeLessThanOrEqual(100);
    }
    expect(st.users).toBeGreaterThanOrEqual(0);
    expect(st.idle).toBeGreaterThanOrEqual(0);
    expect(net.pickShareHost()).toBe(me);

    const conn = await open(path);
    let text = '';
    conn.on('data', (d) => (text += d));
    await new Promise((resolve) => conn.once('end', resolve));
    conn.destroy();
    expect(Object.keys(JSON.parse(text)).sort()).toEqual(['idle', 'load', 'pctsys', 'pctusr', 'up', 'users']);

    ssd.kill('SIGKILL');
    const past = (Date.now() - 1000) / 1000; // 1 s > 3 missed updates of 0.2 s
    utimesSync(join(statDir, me), past, past);
    expect(net.csstat(me).up).toBeLessThan(0);
    expect(net.pickShareHost()).toBe(null);
  });
});

describe('remote start through the remote shell', () => {
  /** A fake remote shell: records the host, then runs the command line as ssh's remote shell would, with a fake `cs`. */
  function fakeShell(cs: string): void {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'cs'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${dir}/cs-args\n${cs}\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'rsh'), `#!/bin/sh\necho "$1" > ${dir}/host\nshift\nPATH=${bin}:$PATH exec sh -c "exec $*"\n`, { mode: 0o755 });
    process.env.CS_REMOTE_SHELL = `${join(dir, 'rsh')}`;
  }

  test('the command is `<shell...> host cs \'<path on that host>/local\'`, quoted for a remote shell', () => {
    expect(net.remoteCommand('h', parsePath('/dev/tcp/h/svc/user/share'))).toEqual(['ssh', 'h', 'cs', "'/dev/tcp/local/svc/user/local'"]);
    process.env.CS_REMOTE_SHELL = '  rsh   -l me ';
    expect(net.remoteCommand('h', parsePath("/dev/tcp/share/svc/#it's"))).toEqual(['rsh', '-l', 'me', 'h', 'cs', `'/dev/tcp/local/svc/local/#it'\\''s'`]);
    const quoted = net.remoteCommand('h', parsePath("/dev/tcp/h/svc/#a b'c$d")).pop()!;
    expect(spawnSync('sh', ['-c', `printf %s ${quoted}`], { encoding: 'utf8' }).stdout).toBe("/dev/tcp/local/svc/local/#a b'c$d");
  });

  test('a remote start runs cs there with the path as one argument and returns the port it reports, sync and async', async () => {
    fakeShell(`echo /dev/tcp/10.213.0.9/${hashPort('svc')}`);
    const p = parsePath('/dev/tcp/far/svc/#x y');
    expect(net.remoteStartSync('far', p)).toBe(hashPort('svc'));
    expect(readFileSync(join(dir, 'host'), 'utf8')).toBe('far\n');
    expect(readFileSync(join(dir, 'cs-args'), 'utf8')).toBe('/dev/tcp/local/svc/local/#x y\n');
    expect(await net.remoteStart('far', p)).toBe(hashPort('svc'));
  });

  test('a failing remote cs is EREMOTEIO quoting its error; a hanging one is ETIMEDOUT; a missing shell ENOENT', async () => {
    const p = parsePath('/dev/tcp/far/svc');
    fakeShell('echo "cs: no launch entry for svc" >&2; exit 3');
    const failed = { code: 'EREMOTEIO', message: expect.stringMatching(/status 3: cs: no launch entry for svc/) };
    expect(() => net.remoteStartSync('far', p)).toThrow(expect.objectContaining(failed));
    await expect(net.remoteStart('far', p)).rejects.toMatchObject(failed);

    rmSync(join(dir, 'bin'), { recursive: true });
    fakeShell('exec sleep 30');
    expect(() => net.remoteStartSync('far', p, { timeoutMs: 300 })).toThrow(expect.objectContaining({ code: 'ETIMEDOUT' }));
    await expect(net.remoteStart('far', p, { timeoutMs: 300 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });

    process.env.CS_REMOTE_SHELL = join(dir, 'no-such-shell');
    expect(() => net.remoteStartSync('far', p)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    await expect(net.remoteStart('far', p)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
