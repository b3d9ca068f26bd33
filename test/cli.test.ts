// The `cs` command as a real process on a fresh namespace: opening, running a
// command on a stream, interactive copying, listings, signals, translation,
// ports, help, and one-line errors with distinct exit statuses.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostDirName, listServices } from '../src/namespace';
import { freshRoot, isRoot, killFixtures, removeRoot, secondUser, startFixture, testIf, waitExit, type Started } from './helpers';

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

  test.each<[string, string, RegExp]>([
    ['a relative path', 'dev/fdp/local/x', /^cs: EINVAL: invalid argument, csopen 'dev\/fdp\/local\/x': not absolute/u],
    ['an unknown protocol', '/dev/xx/local/x', /^cs: EINVAL: .*unknown protocol 'xx'/u],
    ['a .. component', '/dev/fdp/local/x/../y', /^cs: EINVAL: .*'\.\.' is not allowed/u],
    ['a bad character', '/dev/fdp/local/a\tb', /^cs: EINVAL: .*U\+0009/u],
    ['a too long service name', `/dev/fdp/local/${'s'.repeat(65)}`, /^cs: ENAMETOOLONG: /u],
  ])('%s is a PATH that does not parse: one line, exit status 2', async (_what, path, what) => {
    expectOneLineError(await cs([path]), what, 2);
  });

  test.each<[string, string, RegExp]>([
    ['another host for fdp', '/dev/fdp/elsewhere.example/x', /^cs: ENODEV: /u],
    ['a directory', '/dev/fdp/local', /^cs: EISDIR: /u],
    ['a service nobody runs', '/dev/fdp/local/nobody-runs-this', /^cs: ENOENT: .*connect '\/dev\/fdp\/local\/nobody-runs-this'/u],
    ['a udp service nothing is bound for', '/dev/udp/local/nosuchsvc', /^cs: ECONNREFUSED: connection refused, csopen '\/dev\/udp\/local\/nosuchsvc': no udp socket of this host is bound at \/dev\/udp\/127\.0\.0\.1\/\d+$/mu],
  ])('%s fails with one line and exit status 1', async (_what, path, what) => {
    expectOneLineError(await cs([path]), what);
  });

  test('a udp service with a socket bound at its port opens (the control of the ECONNREFUSED case)', async () => {
    const name = service();
    const port = Number((await cs(['port', '--proto', 'udp', name])).stdout);
    const server = createSocket('udp4');
    await new Promise<void>((resolve) => server.bind(port, '0.0.0.0', resolve));
    try {
      expect(await cs([`/dev/udp/local/${name}`])).toMatchObject({ code: 0, stdout: `/dev/udp/127.0.0.1/${port}\n`, stderr: '' });
    } finally {
      server.close();
    }
  });

  test('with --json a failure is one JSON object on stderr, stdout stays empty', async () => {
    const r = await cs(['--json', '/dev/fdp/local/nobody-runs-this']);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/^\{[^\n]*\}\n$/u);
    expect(JSON.parse(r.stderr)).toEqual({
      code: 'ENOENT', errno: -2, syscall: 'connect', path: '/dev/fdp/local/nobody-runs-this', status: 1,
      message: expect.stringMatching(/^ENOENT: no such file or directory, connect '\/dev\/fdp\/local\/nobody-runs-this': /u),
    });
    const usage = await cs(['--json', '--bogus']);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stderr)).toMatchObject({ code: 'EINVAL', syscall: 'usage', status: 2, message: 'EINVAL: invalid argument, usage: unknown option --bogus (see cs --help)' });
  });

  test('a start that takes a while shows a progress line on a terminal, and none otherwise', async () => {
    const name = service();
    const lib = mkdtempSync(join(tmpdir(), 'cs-cli-lib-'));
    try {
      // a server that takes a second before it serves
      const entry = join(lib, 'lib', 'cs', 'fdp', name);
      mkdirSync(entry, { recursive: true });
      writeFileSync(join(entry, 'server'), `#!/bin/sh\nsleep 1\nexec '${process.execPath}' '${join(__dirname, 'fixtures', 'launch-server.js')}' "$@"\n`);
      chmodSync(join(entry, 'server'), 0o755);
      const env = { CS_PATH: lib };
      // script(1) gives cs a terminal on stdin, stdout and stderr; its output is what the terminal showed
      const tty = await run('script', ['-qec', `'${process.execPath}' '${CLI}' ${fdpPath(name)}`, '/dev/null'], { env, ms: 30000 });
      expect(tty.code).toBe(0);
      expect(tty.stdout).toContain(`cs: waiting for ${fdpPath(name)} (starting its server)...\r\x1b[K`);
      expect(tty.stdout).toContain(`${fdpPath(name)}\r\n`);
      for (const e of listServices()) if (e.alive && e.pid !== null) process.kill(e.pid, 'SIGKILL');
      await cs(['--prune']);
      const piped = await cs([fdpPath(name)], { env, ms: 30000 });
      expect(piped).toMatchObject({ code: 0, stdout: `${fdpPath(name)}\n`, stderr: '' });
      // a fast open says nothing even on a terminal
      const fast = await run('script', ['-qec', `'${process.execPath}' '${CLI}' ${fdpPath(name)}`, '/dev/null'], { env });
      expect(fast.stdout).toBe(`${fdpPath(name)}\r\n`);
      // nor does a slow one with --json
      for (const e of listServices()) if (e.alive && e.pid !== null) process.kill(e.pid, 'SIGKILL');
      await cs(['--prune']);
      const json = await run('script', ['-qec', `'${process.execPath}' '${CLI}' --json ${fdpPath(name)}`, '/dev/null'], { env, ms: 30000 });
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({ path: fdpPath(name) });
    } finally {
      rmSync(lib, { recursive: true, force: true });
    }
  }, 60000);
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

  test('--help and --version after PATH belong to the COMMAND, not to cs', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    const r = await cs([fdpPath(name), 'sh', '-c', 'printf "%s|" "$@" >&2', 'sh', '--help', '--version', '-h']);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '--help|--version|-h|' });
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

  test('a service path with qualifiers or user lists that instance only', async () => {
    const name = service();
    await startEcho(`${fdpPath(name)}/staging`);
    await startEcho(`${fdpPath(name)}/prod`);
    await startEcho(`${fdpPath(name)}/user`);
    const uid = process.geteuid!();
    expect((await cs(['-l', fdpPath(name)])).stdout).toBe(`${fdpPath(name)}/prod\n${fdpPath(name)}/staging\n${fdpPath(name)}/user=${uid}\n`);
    expect((await cs(['-l', `${fdpPath(name)}/staging`])).stdout).toBe(`${fdpPath(name)}/staging\n`);
    expect((await cs(['-p', `${fdpPath(name)}/prod`])).stdout).toMatch(new RegExp(`^\\d+ ${fdpPath(name)}/prod\\n$`, 'u'));
    expect((await cs(['-l', `${fdpPath(name)}/user`])).stdout).toBe(`${fdpPath(name)}/user=${uid}\n`);
    expect((await cs(['-l', `${fdpPath(name)}/nothere`])).stdout).toBe('');
  });

  test('an empty namespace lists nothing and a bad DIR-PATH is a usage error', async () => {
    for (const option of ['-l', '-s', '-p', '-m']) expect(await cs([option])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectOneLineError(await cs(['-l', '/dev/nope']), "unknown protocol 'nope'", 2);
    expectOneLineError(await cs(['-s', 'fdp']), /^cs: EINVAL: /u, 2);
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

  test('an unknown signal and a bad path are usage errors; a missing service fails with one line', async () => {
    const name = service();
    await startEcho(fdpPath(name));
    expectOneLineError(await cs(['-k', 'NOPE', fdpPath(name)]), /^cs: EINVAL: invalid argument, kill: unknown signal 'NOPE'$/mu, 2);
    expectOneLineError(await cs(['-k', '99999', fdpPath(name)]), /^cs: EINVAL: invalid argument, kill: unknown signal '99999'$/mu, 2);
    expectOneLineError(await cs(['-k', 'TERM', '/dev/fdp/local/../x']), /^cs: EINVAL: .*'\.\.' is not allowed/u, 2);
    expectOneLineError(await cs(['-k', 'TERM', fdpPath(service())]), /^cs: ESRCH: no such process, kill '/u);
    expect((await cs(['-l'])).stdout).toBe(`${fdpPath(name)}\n`);
  });

  test('-k takes kill(1) style numbers: -0 and -9', async () => {
    const name = service();
    const echo = await startEcho(fdpPath(name));
    expect(JSON.parse((await cs(['--json', '-k', '-0', fdpPath(name)])).stdout)).toEqual({ path: fdpPath(name), pid: echo.pid, signal: '0' });
    expect(await cs(['-k', '-9', fdpPath(name)])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await waitExit(echo)).toBe(null);
  });

  test('-k with PATH but no SIG says the SIG is missing', async () => {
    expectOneLineError(await cs(['-k', fdpPath('x')]), /^cs: EINVAL: invalid argument, usage: -k needs a SIG before PATH: cs -k TERM \/dev\/fdp\/local\/x \(see cs --help\)$/mu, 2);
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

  test('-t refuses share and a name that is not a host as usage errors', async () => {
    expectOneLineError(await cs(['-t', 'share']), /^cs: EINVAL: invalid argument, translate 'share': /u, 2);
    expectOneLineError(await cs(['-t', 'no such host']), /^cs: EINVAL: invalid argument, translate 'no such host': not a host name$/mu, 2);
  });

  test('port prints the port a name maps to, for tcp or udp, as text and as JSON', async () => {
    expect(await cs(['port', 'lookupd'])).toMatchObject({ code: 0, stdout: '28629\n', stderr: '' });
    expect((await cs(['port', '--proto', 'udp', 'tst'])).stdout).toBe('7950\n');
    expect((await cs(['port', '8080'])).stdout).toBe('8080\n');
    expect(JSON.parse((await cs(['--json', 'port', 'zz-top'])).stdout)).toEqual({ service: 'zz-top', proto: 'tcp', port: 43717 });
    expectOneLineError(await cs(['port', '0']), /^cs: EINVAL: .*out of range/u, 2);
  });
});

describe('usage, help and version', () => {
  test.each<[string, string[], string]>([
    ['no PATH', [], 'missing PATH'],
    ['an unknown option', ['--bogus'], 'unknown option --bogus'],
    ['unknown short options', ['-x', '-y', '/dev/fdp/local/x'], 'unknown option -x, -y'],
    ['two modes', ['-i', '-l', '/dev/fdp/local/x'], '-i and -l cannot be used together'],
    ['-k without SIG', ['-k'], '-k needs a value'],
    ['-k without PATH', ['-k', 'TERM'], '-k needs a PATH'],
    ['-i without PATH', ['-i'], '-i needs a PATH'],
    ['--socket without PATH', ['--socket'], '--socket needs a PATH'],
    ['-t with a PATH', ['-t', 'local', '/dev/fdp/local/x'], '-t takes a HOST and no PATH'],
    ['an option after PATH', ['/dev/fdp/local/x', '--json'], "options go before PATH: '--json' after it would be the COMMAND"],
    ['a COMMAND with a listing', ['-l', '/dev/fdp', 'ls'], "a COMMAND runs only in plain 'cs PATH COMMAND' (not with -l)"],
    ['port without NAME', ['port'], 'missing NAME'],
    ['port with a bad protocol', ['port', 'x', '--proto', 'sctp'], 'Invalid values: Argument: proto, Given: "sctp", Choices: "tcp", "udp"'],
  ])('%s is a usage error: one line, exit status 2', async (_what, args, what) => {
    const r = await cs(args);
    expect(r).toEqual(expect.objectContaining({ code: 2, stdout: '', stderr: `cs: EINVAL: invalid argument, usage: ${what} (see cs --help)\n` }));
  });

  test('--help describes every option and the port command, wherever it is given', async () => {
    const help = await cs(['--help']);
    expect({ code: help.code, stderr: help.stderr }).toEqual({ code: 0, stderr: '' });
    for (const option of ['-i, --interactive', '-q, --query', '-l, --list', '-s, --long', '-p, --pids', '-m, --mounts',
      '-k, --kill', '-t, --translate', '--prune', '--socket', '--json', '--version', '--help', 'cs port NAME', 'cs -k SIG PATH', 'cs -t HOST']) {
      expect(help.stdout).toContain(option);
    }
    // every exit status and every environment variable cs reads
    for (const status of ['0 ', '1 ', '2 ', '126/127', '128+N']) expect(help.stdout).toMatch(new RegExp(`^ {2}${status.replace('+', '\\+')}`, 'mu'));
    const sources = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
      .flatMap((d) => (d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [readFileSync(join(dir, d.name), 'utf8')] : []));
    const read = new Set(sources(join(PACKAGE, 'src')).flatMap((text) => [
      ...[...text.matchAll(/process\.env\.([A-Z_]+)/gu)].map((m) => m[1]!),
      ...[...text.matchAll(/const \{([A-Z_, ]+)\} = process\.env/gu)].flatMap((m) => m[1]!.split(',').map((v) => v.trim())),
    ]));
    read.delete('PATH');
    expect(read.size).toBeGreaterThan(8);
    for (const variable of read) expect(help.stdout).toContain(variable);
    for (const args of [['-i', '--help'], ['-l', '--help'], ['-k', 'TERM', '--help'], ['--json', '--help']]) {
      expect(await cs(args)).toMatchObject({ code: 0, stdout: help.stdout });
    }
    const port = await cs(['port', '--help']);
    expect(port.code).toBe(0);
    expect(port.stdout).toContain('--proto');
    expect(port.stdout).toContain('cs port [name]');
  });

  test('--version prints the package version', async () => {
    expect(await cs(['--version'])).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});

describe('the README example', () => {
  test('npx cs /dev/fdp/local/echo starts echo once; cs -p shows one pid; cs -k TERM stops it; the namespace is clean', async () => {
    const path = '/dev/fdp/local/echo';
    // npx links this checkout into its cache; its prepare script would rebuild dist/ under the other test files
    const first = await run('npx', ['cs', path], { cwd: PACKAGE, ms: 60000, env: { npm_config_ignore_scripts: 'true' } });
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

describe('cs --prune and cs --socket', () => {
  test('--prune removes the records of a dead server only, and leaves live ones', async () => {
    const [dead, live] = [service(), service()];
    const gone = await startEcho(fdpPath(dead));
    const running = await startEcho(fdpPath(live));
    gone.child.kill('SIGKILL');
    await waitExit(gone);
    const dir = join(root, 'fdp', hostDirName(), dead, '--');
    expect((await cs(['-l'])).stdout).toBe(`${fdpPath(dead)}\n${fdpPath(live)}\n`);

    expect(await cs(['--prune'])).toMatchObject({ code: 0, stdout: `${fdpPath(dead)} ${dir}\n`, stderr: '' });
    expect(existsSync(join(dir, 'S-cs.mnt')) || existsSync(join(dir, 'P-cs.mnt'))).toBe(false);
    expect((await cs(['-l'])).stdout).toBe(`${fdpPath(live)}\n`);
    expect((await cs(['-p'])).stdout).toBe(`${running.pid} ${fdpPath(live)}\n`);
    expect(JSON.parse((await cs(['--json', '--prune'])).stdout)).toEqual([]);
  });

  test('--prune keeps a socket that something still listens on, though no live server is recorded', async () => {
    const name = service();
    const echo = await startEcho(fdpPath(name));
    const dir = join(root, 'fdp', hostDirName(), name, '--');
    // the record now names a dead process, but the server still listens (as a systemd socket would)
    unlinkSync(join(dir, 'P-cs.mnt'));
    symlinkSync('/proc/999999999', join(dir, 'P-cs.mnt'));
    expect(await cs(['--prune'])).toMatchObject({ code: 0, stdout: '' });
    expect(lstatSync(join(dir, 'S-cs.mnt')).isSocket()).toBe(true);
    expect(await cs(['-i', fdpPath(name)], { input: 'still here\n' })).toMatchObject({ code: 0, stdout: 'still here\n' });
    echo.child.kill('SIGKILL');
  });

  testIf(isRoot, 'a second user needs root')('--prune by another user leaves records in directories it does not own', async () => {
    const name = service();
    const echo = await startEcho(fdpPath(name));
    echo.child.kill('SIGKILL');
    await waitExit(echo);
    const dir = join(root, 'fdp', hostDirName(), name, '--');
    const uid = secondUser();
    const r = await run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, CLI, '--prune']);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(existsSync(join(dir, 'S-cs.mnt'))).toBe(true);
    // the same dead entry, owned by that user, is that user's to prune
    chownSync(dir, uid, uid);
    const own = await run('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, CLI, '--prune']);
    expect(own).toMatchObject({ code: 0, stdout: `${fdpPath(name)} ${dir}\n` });
    expect(existsSync(join(dir, 'S-cs.mnt'))).toBe(false);
  });

  test('--socket prints the S-cs.mnt path of an fdp service and the port of a tcp one', async () => {
    const name = service();
    expect(await cs(['--socket', fdpPath(name)])).toMatchObject({ code: 0, stdout: `${join(root, 'fdp', hostDirName(), name, '--', 'S-cs.mnt')}\n`, stderr: '' });
    expect((await cs(['--socket', `${fdpPath(name)}/staging`])).stdout).toBe(`${join(root, 'fdp', hostDirName(), name, '---staging', 'S-cs.mnt')}\n`);
    expect(JSON.parse((await cs(['--json', '--socket', '/dev/tcp/local/lookupd'])).stdout)).toEqual({ path: '/dev/tcp/local/lookupd', port: 28629 });
    // printing it creates nothing
    expect(readdirSync(root)).toEqual([]);
  });
});

describe('a service error reply through cs -i', () => {
  test('fdstore refusing a put without a record names the code once', async () => {
    const entry = join(PACKAGE, 'lib', 'cs', 'fdp', 'fdstore');
    if (!existsSync(entry)) throw new Error(`the bundled fdstore entry ${entry} is missing`);
    const r = await cs(['-i', '/dev/fdp/local/fdstore'], { input: 'put x\nhello\n', ms: 30000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^error EPROTO protocol error, csrecv '\/dev\/fdp\/local\/fdstore': [^\n]*\n$/u);
  });
});
