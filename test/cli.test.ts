// The `cs` command as a real process on a fresh namespace: opening, running a
// command on a stream, interactive copying, listings, signals, translation,
// ports, help, and one-line errors with distinct exit statuses.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lutimesSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostDirName, listServices } from '../src/namespace';
import { freshRoot, killFixtures, removeRoot, startFixture, waitExit, type Started } from './helpers';

const PACKAGE = join(__dirname, '..');
const CLI = join(PACKAGE, 'dist', 'src', 'cli', 'main.js');
const version = require('../package.json').version as string;

let root: string;
let seq = 0;
const service = () => `cli${process.pid}x${seq++}`;
const fdpPath = (name: string) => `/dev/fdp/local/${name}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  out: Buffer;
}

const running = new Set<ChildProcess>();

/** Run a command to completion, feeding `input` to its stdin; killed and rejected after `ms`. */
function run(cmd: string, args: string[], opts: { input?: string | Buffer; ms?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdin!.on('error', () => {});
  child.stdin!.end(opts.input ?? '');
  const ms = opts.ms ?? 15000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish in ${ms} ms; stderr: ${stderr}`));
    }, ms);
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      const all = Buffer.concat(out);
      resolve({ code, stdout: all.toString(), stderr, out: all });
    });
  });
}

const cs = (args: string[], opts: { input?: string | Buffer; ms?: number; env?: NodeJS.ProcessEnv } = {}) => run(process.execPath, [CLI, ...args], opts);

/** A failure the way cs must report it: nothing on stdout, one `cs: ` line naming `what` on stderr. */
function expectOneLineError(r: Run, what: string | RegExp, status = 1): void {
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: status, stdout: '' });
  expect(r.stderr).toMatch(/^cs: [^\n]+\n$/u);
  expect(r.stderr).toMatch(what);
}

/** A hand-started echo server (test/fixtures/cli-echo.js) and its pid. */
async function startEcho(path: string): Promise<Started & { pid: number }> {
  const s = await startFixture('cli-echo.js', [path]);
  expect(s.line).toMatch(/^ready \d+$/u);
  return { ...s, pid: Number(s.line.split(' ')[1]) };
}

/** Wait, bounded, until a process that is not our child is gone. */
async function waitGone(pid: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`pid ${pid} still runs after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeEach(() => {
  root = freshRoot();
});

afterEach(async () => {
  await killFixtures();
  for (const c of running) c.kill('SIGKILL');
  running.clear();
  // servers cs started on demand are not our children: kill whatever the namespace still records
  for (const e of listServices()) if (e.alive && e.pid !== null) process.kill(e.pid, 'SIGKILL');
  removeRoot(root);
});

describe('cs PATH', () => {
  test('prints the canonical path of a running service and exits 0, as text and as JSON', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    const r = await cs([`//dev/fdp/./local/${name}/`]);
    expect(r).toMatchObject({ code: 0, stdout: `${fdpPath(name)}\n`, stderr: '' });
    const j = await cs(['--json', fdpPath(name)]);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({ path: fdpPath(name) });
  });

  test.each<[string, string, string]>([
    ['a relative path', 'dev/fdp/local/x', 'EINVAL'],
    ['an unknown protocol', '/dev/xx/local/x', "unknown protocol 'xx'"],
    ['a .. component', '/dev/fdp/local/x/../y', "'..' is not allowed"],
    ['a bad character', '/dev/fdp/local/a\tb', 'U+0009'],
    ['a too long service name', `/dev/fdp/local/${'s'.repeat(65)}`, 'ENAMETOOLONG'],
    ['another host for fdp', '/dev/fdp/elsewhere.example/x', 'ENODEV'],
    ['a directory', '/dev/fdp/local', 'EISDIR'],
    ['a service nobody runs', '/dev/fdp/local/nobody-runs-this', 'ENOENT'],
  ])('%s fails with one line and exit status 1', async (_what, path, what) => {
    expectOneLineError(await cs([path]), what);
  });
});

describe('cs PATH COMMAND', () => {
  test('runs COMMAND with stdin and stdout on the stream and exits with its status', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    // the command writes to the echo service and reads the echo back from it
    const r = await cs([fdpPath(name), 'sh', '-c', 'echo ping; read line; echo "got $line" >&2; exit 7']);
    expect(r).toMatchObject({ code: 7, stdout: '', stderr: 'got ping\n' });
  });

  test('the COMMAND gets its arguments verbatim, options and number-like words included', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    const r = await cs([fdpPath(name), 'sh', '-c', 'printf "%s|" "$@" >&2', 'sh', '--json', '-l', '010', '1e3', '-k']);
    expect(r).toMatchObject({ code: 0, stderr: '--json|-l|010|1e3|-k|' });
  });

  test('a command killed by a signal gives 128 + the signal number', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    expect((await cs([fdpPath(name), 'sh', '-c', 'kill -TERM $$'])).code).toBe(128 + 15);
  });

  test('the command gets only stdin, stdout and stderr: no descriptor of cs leaks into it', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    // ls lists its own descriptors: under cs they must be the ones it has when this test runs it directly
    const listFds = ['sh', '-c', 'exec ls /proc/self/fd 1>&2'];
    const fdsOf = (r: Run) => r.stderr.split('\n').filter(Boolean).sort();
    const direct = await run(listFds[0]!, listFds.slice(1));
    const viaCs = await cs([fdpPath(name), ...listFds]);
    expect(viaCs.code).toBe(0);
    expect(fdsOf(viaCs)).toEqual(fdsOf(direct));
    expect(fdsOf(direct)).toEqual(expect.arrayContaining(['0', '1', '2']));
  });

  test('a command that does not exist fails with one line and exit status 127', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    expectOneLineError(await cs([fdpPath(name), 'no-such-command-here']), /ENOENT.*no-such-command-here/u, 127);
  });
});

describe('cs -i and -q', () => {
  test('-i copies 1 MiB from stdin through the echo service to stdout and exits when both ends closed', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    const data = randomBytes(1 << 20);
    const r = await cs(['-i', fdpPath(name)], { input: data });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.out.equals(data)).toBe(true);
  });

  test('-i on a service nobody runs fails with one line', async () => {
    expectOneLineError(await cs(['-i', fdpPath(service())], { input: 'x' }), 'ENOENT');
  });

  test('-q talks to a running service like -i', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    expect(await cs(['--query', fdpPath(name)], { input: 'are you there?\n' })).toMatchObject({ code: 0, stdout: 'are you there?\n', stderr: '' });
  });

  test('-q on a service that is not running fails and does not start it', async () => {
    const name = service();
    const lib = mkdtempSync(join(tmpdir(), 'cs-cli-lib-'));
    try {
      // a launch entry that would leave a mark if it were ever started
      const entry = join(lib, 'lib', 'cs', 'fdp', name);
      const marker = join(lib, 'started');
      mkdirSync(entry, { recursive: true });
      writeFileSync(join(entry, 'server'), `#!/bin/sh\necho started > '${marker}'\nexit 1\n`);
      chmodSync(join(entry, 'server'), 0o755);
      const env = { CS_PATH: lib };

      expectOneLineError(await cs(['-q', fdpPath(name)], { input: 'x', env }), 'ENOENT');
      expect(existsSync(marker)).toBe(false);
      expect((await cs(['-p'], { env })).stdout).toBe('');

      // the control: without -q the same entry is started (it fails at once, by design)
      await cs([fdpPath(name)], { env });
      expect(existsSync(marker)).toBe(true);
    } finally {
      rmSync(lib, { recursive: true, force: true });
    }
  });
});

describe('listings: -l, -s, -p, -m', () => {
  test('a hand-started service appears in every listing, as text and as JSON records', async () => {
    const name = service();
    const path = fdpPath(name);
    const echo = await startEcho(path);
    const dir = join(root, 'fdp', hostDirName(), name, '--');
    const st = statSync(dir);

    expect(await cs(['-l'])).toMatchObject({ code: 0, stdout: `${path}\n`, stderr: '' });
    expect((await cs(['-p'])).stdout).toBe(`${echo.pid} ${path}\n`);
    expect((await cs(['-m'])).stdout).toBe(`${dir}\n`);
    const long = (await cs(['-s'])).stdout;
    expect(long).toMatch(new RegExp(`^${st.uid}\\s+d[rwx-]{9}\\s+${echo.pid}\\s+${path}\\n$`, 'u'));

    const record = {
      proto: 'fdp', host: hostDirName(), service: name, perm: '--', sid: null, path, dir,
      socket: true, pid: echo.pid, alive: true, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777,
    };
    for (const option of ['-l', '-s', '-p', '-m']) {
      const r = await cs(['--json', option]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual([record]);
    }
  });

  test('-s shows the owner and mode of a user-private service', async () => {
    const name = service();
    const echo = await startEcho(`${fdpPath(name)}/user`);
    const uid = process.geteuid!();
    expect((await cs(['-s'])).stdout).toMatch(new RegExp(`^${uid}\\s+drwx------\\s+${echo.pid}\\s+${fdpPath(name)}/user=${uid}\\n$`, 'u'));
  });

  test('a DIR-PATH limits the listing to a protocol, a host or a service', async () => {
    const [a, b] = [service(), service()];
    await startEcho(fdpPath(a));
    await startEcho(fdpPath(b));
    const both = `${fdpPath(a)}\n${fdpPath(b)}\n`;
    expect((await cs(['-l', '/dev/fdp'])).stdout).toBe(both);
    expect((await cs(['-l', '/dev/fdp/local'])).stdout).toBe(both);
    expect((await cs(['-l', fdpPath(b)])).stdout).toBe(`${fdpPath(b)}\n`);
    expect((await cs(['-p', fdpPath(a)])).stdout).toMatch(new RegExp(`^\\d+ ${fdpPath(a)}\\n$`, 'u'));
    expect(await cs(['-l', '/dev/tcp'])).toMatchObject({ code: 0, stdout: '' });
    expect(JSON.parse((await cs(['-s', '--json', '/dev/udp/local'])).stdout)).toEqual([]);
  });

  test('an empty namespace lists nothing and a bad DIR-PATH fails with one line', async () => {
    for (const option of ['-l', '-s', '-p', '-m']) expect(await cs([option])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectOneLineError(await cs(['-l', '/dev/nope']), "unknown protocol 'nope'");
    expectOneLineError(await cs(['-s', 'fdp']), 'EINVAL');
  });
});

describe('cs -k SIG PATH', () => {
  test('-k TERM stops the server, and its namespace entry is cleaned', async () => {
    const name = service();
    const echo = await startEcho(fdpPath(name));
    const dir = join(root, 'fdp', hostDirName(), name, '--');
    expect(await cs(['-k', 'TERM', fdpPath(name)])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await waitExit(echo)).toBe(0);
    expect(existsSync(join(dir, 'S-cs.mnt')) || existsSync(join(dir, 'P-cs.mnt'))).toBe(false);
    expect((await cs(['-l'])).stdout).toBe('');
    expect((await cs(['-p'])).stdout).toBe('');
    // the mount directory itself stays, as libcs leaves it
    expect((await cs(['-m'])).stdout).toBe(`${dir}\n`);
    expectOneLineError(await cs(['-k', 'TERM', fdpPath(name)]), /ESRCH.*no server is recorded/u);
  });

  test('-k takes signal numbers and names in any case, and reports what it did as JSON', async () => {
    const name = service();
    const echo = await startEcho(fdpPath(name));
    const r = await cs(['--json', '-k', '0', fdpPath(name)]);
    expect(JSON.parse(r.stdout)).toEqual({ path: fdpPath(name), pid: echo.pid, signal: '0' });
    expect(JSON.parse((await cs(['--json', '-k', 'sigterm', fdpPath(name)])).stdout).signal).toBe('SIGTERM');
    expect(await waitExit(echo)).toBe(0);
  });

  test('-k refuses a server that died without cleaning up, and a pid reused by a later process', async () => {
    const name = service();
    const echo = await startEcho(fdpPath(name));
    const dir = join(root, 'fdp', hostDirName(), name, '--');
    echo.child.kill('SIGKILL');
    await waitExit(echo);
    expectOneLineError(await cs(['-k', 'TERM', fdpPath(name)]), new RegExp(`ESRCH.*pid ${echo.pid} is not running`, 'u'));
    expect((await cs(['-l'])).stdout).toBe(`${fdpPath(name)}\n`);
    expect((await cs(['-s'])).stdout).toMatch(/\s-\s+\/dev\/fdp\//u);
    expect((await cs(['-p'])).stdout).toBe('');

    // P-cs.mnt now names a live process that started after the record was written
    const bystander = spawn('sleep', ['60'], { stdio: 'ignore' });
    running.add(bystander);
    const link = join(dir, 'P-cs.mnt');
    unlinkSync(link);
    symlinkSync(`/proc/${bystander.pid}`, link);
    const hourAgo = new Date(Date.now() - 3600_000);
    lutimesSync(link, hourAgo, hourAgo);
    expectOneLineError(await cs(['-k', 'KILL', fdpPath(name)]), new RegExp(`ESRCH.*pid ${bystander.pid} is not running`, 'u'));
    expect(bystander.exitCode).toBeNull();
    expect((await cs(['-p'])).stdout).toBe('');
  });

  test('an unknown signal, a bad path and a missing service fail with one line', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    expectOneLineError(await cs(['-k', 'NOPE', fdpPath(name)]), "unknown signal 'NOPE'");
    expectOneLineError(await cs(['-k', '99999', fdpPath(name)]), "unknown signal '99999'");
    expectOneLineError(await cs(['-k', 'TERM', '/dev/fdp/local/../x']), 'EINVAL');
    expectOneLineError(await cs(['-k', 'TERM', fdpPath(service())]), 'ESRCH');
    expect((await cs(['-l'])).stdout).toBe(`${fdpPath(name)}\n`);
  });
});

describe('cs -t HOST and cs port NAME', () => {
  test('-t translates addresses, localhost and local to addresses', async () => {
    expect((await cs(['-t', '127.0.0.1'])).stdout).toBe('127.0.0.1\n');
    expect((await cs(['-t', '[::1]'])).stdout).toBe('::1\n');
    const localhost = JSON.parse((await cs(['--json', '-t', 'localhost'])).stdout);
    expect(localhost).toEqual({ host: 'localhost', address: expect.any(String), family: expect.any(Number) });
    expect(isIP(localhost.address)).toBe(localhost.family);
    const local = await cs(['-t', 'local']);
    expect(local.code).toBe(0);
    expect(isIP(local.stdout.trim())).not.toBe(0);
  });

  test('-t fails with one line on share and on a name that is not a host', async () => {
    expectOneLineError(await cs(['-t', 'share']), 'EINVAL');
    expectOneLineError(await cs(['-t', 'no such host']), 'EINVAL');
  });

  test('port prints the port a name maps to, for tcp or udp, as text and as JSON', async () => {
    expect(await cs(['port', 'lookupd'])).toMatchObject({ code: 0, stdout: '28629\n', stderr: '' });
    expect((await cs(['port', '--proto', 'udp', 'tst'])).stdout).toBe('7950\n');
    expect((await cs(['port', '8080'])).stdout).toBe('8080\n');
    expect(JSON.parse((await cs(['--json', 'port', 'zz-top'])).stdout)).toEqual({ service: 'zz-top', proto: 'tcp', port: 43717 });
    expectOneLineError(await cs(['port', '0']), 'out of range');
  });
});

describe('usage, help and version', () => {
  test.each<[string, string[], string]>([
    ['no PATH', [], 'missing PATH'],
    ['an unknown option', ['--bogus'], 'Unknown argument: bogus'],
    ['two modes', ['-i', '-l', '/dev/fdp/local/x'], '-i and -l cannot be used together'],
    ['-k without SIG', ['-k'], 'Not enough arguments following: k'],
    ['-k without PATH', ['-k', 'TERM'], '-k needs a PATH'],
    ['-i without PATH', ['-i'], '-i needs a PATH'],
    ['-t with a PATH', ['-t', 'local', '/dev/fdp/local/x'], '-t takes a HOST and no PATH'],
    ['an option after PATH', ['/dev/fdp/local/x', '--json'], 'options go before PATH'],
    ['a COMMAND with a listing', ['-l', '/dev/fdp', 'ls'], 'COMMAND'],
    ['port without NAME', ['port'], 'Not enough non-option arguments'],
    ['port with a bad protocol', ['port', 'x', '--proto', 'sctp'], 'Invalid values'],
  ])('%s is a usage error: one line, exit status 2', async (_what, args, what) => {
    expectOneLineError(await cs(args), what, 2);
  });

  test('--help describes every option and the port command, wherever it is given', async () => {
    const help = await cs(['--help']);
    expect({ code: help.code, stderr: help.stderr }).toEqual({ code: 0, stderr: '' });
    for (const option of ['-i, --interactive', '-q, --query', '-l, --list', '-s, --long', '-p, --pids', '-m, --mounts',
      '-k, --kill', '-t, --translate', '--json', '--version', '--help', 'cs port <name>', 'cs -k SIG PATH', 'cs -t HOST']) {
      expect(help.stdout).toContain(option);
    }
    for (const args of [['-i', '--help'], ['-l', '--help'], ['-k', 'TERM', '--help'], ['--json', '--help']]) {
      expect(await cs(args)).toMatchObject({ code: 0, stdout: help.stdout });
    }
    const port = await cs(['port', '--help']);
    expect(port.code).toBe(0);
    expect(port.stdout).toContain('--proto');
    expect(port.stdout).toContain('cs port <name>');
  });

  test('--version prints the package version', async () => {
    expect(await cs(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});

describe('the README example', () => {
  test('npx cs /dev/fdp/local/echo starts echo once; cs -p shows one pid; cs -k TERM stops it; the namespace is clean', async () => {
    const path = '/dev/fdp/local/echo';
    const first = await run('npx', ['cs', path], { cwd: PACKAGE, ms: 60000 });
    expect({ code: first.code, stdout: first.stdout }).toEqual({ code: 0, stdout: `${path}\n` });
    expect(await cs(['-i', path], { input: 'hello\n' })).toMatchObject({ code: 0, stdout: 'hello\n' });
    expect((await cs([path])).code).toBe(0);

    const pids = (await cs(['-p'])).stdout.trim().split('\n');
    expect(pids).toEqual([expect.stringMatching(new RegExp(`^\\d+ ${path}$`, 'u'))]);
    const pid = Number(pids[0]!.split(' ')[0]);

    expect((await cs(['-k', 'TERM', path])).code).toBe(0);
    await waitGone(pid);
    expect((await cs(['-l'])).stdout).toBe('');
    expect((await cs(['-p'])).stdout).toBe('');
    expect(listServices().filter((e) => e.socket || e.pid !== null)).toEqual([]);
  });
});
