// Shared test plumbing: fresh namespaces, real child processes, fd counting,
// and a real second user for multi-user tests (root only).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { hashPort } from '../src/port';

export const FIXTURES = join(__dirname, 'fixtures');
export const isRoot = process.geteuid?.() === 0;

/**
 * `test` when this machine can run it; else `test.skip`, with the reason in its title,
 * so the run reports it as skipped instead of passed. Decided when the file loads.
 */
export function testIf(runnable: boolean, why: string): (name: string, fn: jest.ProvidesCallback, timeout?: number) => void {
  return runnable ? test : (name, fn, timeout) => test.skip(`${name} (skipped: ${why})`, fn, timeout);
}

/**
 * A fresh namespace root, shared with other users like /tmp/cs is; set as CS_MOUNT_LOCAL.
 * Jest's process.env is the test file's own copy: a child sees it only when spawned with
 * `env: process.env` (startFixture and runFixture do), else it looks under /tmp/cs.
 */
export function freshRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-test-'));
  chmodSync(dir, 0o1777);
  process.env.CS_MOUNT_LOCAL = dir;
  return dir;
}

export function removeRoot(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Descriptors open in this process now. */
export function openFds(): string[] {
  return readdirSync('/proc/self/fd').sort();
}

const children = new Set<ChildProcess>();

export interface Started {
  child: ChildProcess;
  /** The first line the child printed (its "ready" line). */
  line: string;
  /** Every later line, as it arrives. */
  lines: string[];
  exited: Promise<number | null>;
}

/**
 * Run a fixture (node script) as a real process and wait for its first stdout
 * line, bounded by `ms`. `asUser` runs it under another uid (root only).
 */
export interface FixtureOptions {
  env?: NodeJS.ProcessEnv;
  /** Run under this uid (and the same gid), without supplementary groups: root only. */
  asUser?: number;
  ms?: number;
}

/** Spawn fixture `script` as a tracked child (killed by killFixtures). */
function spawnFixture(script: string, args: string[], opts: FixtureOptions, stdin: 'pipe' | 'ignore'): ChildProcess {
  const argv = [join(FIXTURES, script), ...args];
  const [cmd, cmdArgs] = opts.asUser === undefined
    ? [process.execPath, argv]
    : ['setpriv', [`--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, '--clear-groups', process.execPath, ...argv]];
  const child = spawn(cmd, cmdArgs, { env: { ...process.env, ...opts.env }, stdio: [stdin, 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function startFixture(script: string, args: string[] = [], opts: FixtureOptions = {}): Promise<Started> {
  const child = spawnFixture(script, args, opts, 'pipe');
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} printed nothing in ${opts.ms ?? 10000} ms; stderr: ${stderr}`)), opts.ms ?? 10000);
    let buf = '';
    let first: string | null = null;
    child.stdout!.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (first === null) {
          first = line;
          clearTimeout(timer);
          resolve({ child, line, lines, exited });
        } else lines.push(line);
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      if (first === null) reject(new Error(`${script} exited (${code}) before it was ready; stderr: ${stderr}`));
    });
  });
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Wait for `child` to exit, at most `ms` (then kill it and fail naming `what`); its exit code and output. */
export function finish(child: ChildProcess, what: string, ms: number): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not finish in ${ms} ms; stderr: ${stderr}`));
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      // 'exit' can come before the last output is read; a daemon the child left may hold the pipes open, so wait briefly
      const drained = [child.stdout!, child.stderr!].map((s) => (s.readableEnded ? null : new Promise((r) => s.once('end', r))));
      const grace = new Promise((r) => setTimeout(r, 500).unref());
      void Promise.race([Promise.all(drained), grace]).then(() => resolve({ code, stdout, stderr }));
    });
  });
}

/** Run a fixture to completion; returns its exit code and output. */
export function runFixture(script: string, args: string[] = [], opts: FixtureOptions = {}): Promise<Finished> {
  const child = spawnFixture(script, args, opts, 'ignore');
  return finish(child, script, opts.ms ?? 10000);
}

/** Kill every fixture still running (call from afterEach/afterAll). */
export async function killFixtures(): Promise<void> {
  const waits = [...children].map((c) => new Promise((r) => {
    c.once('exit', r);
    c.kill('SIGKILL');
  }));
  await Promise.all(waits);
}

/** A second, unprivileged user for multi-user tests: its uid (created if needed; root only). */
export function secondUser(name = 'cstest'): number {
  const id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  if (id.status === 0) return Number(id.stdout.trim());
  const add = spawnSync('useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name], { encoding: 'utf8' });
  if (add.status !== 0) throw new Error(`useradd ${name} failed: ${add.stderr}`);
  return Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
}

/** Wait for a started fixture to exit, at most `ms`. */
export function waitExit(s: Started, ms = 10000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('child did not exit')), ms)));
  return Promise.race([s.exited, limit]).finally(() => clearTimeout(timer));
}

/** A memfd holding `text` (its own offset at 0), to send as a descriptor; the caller closes it. */
export function memfdHolding(text: string): number {
  const fd = sys.memfd('payload');
  writeFileSync(`/proc/self/fd/${fd}`, text);
  return fd;
}

/** cs keeps one auth descriptor per process, made on first use: make it before counting fds. */
export function makeAuthFd(): void {
  const [a, b] = sys.socketpair(sys.SOCK_STREAM);
  cs.cssend(a, []);
  sys.close(a);
  sys.close(b);
}

/**
 * Every test of the file gets a fresh namespace root and this process's auth fd
 * (before it counts fds); its fixtures are killed after. Returns the current root.
 */
export function freshRootEachTest(): () => string {
  let root = '';
  beforeEach(() => {
    root = freshRoot();
    makeAuthFd();
  });
  afterEach(async () => {
    await killFixtures();
    removeRoot(root);
  });
  return () => root;
}

/** Per test: a fresh namespace root, a `CS_PATH` tree for launch entries (a temporary
 *  directory named after `prefix`, chmod `mode` if given) and `env` set; afterwards every
 *  pid pushed on `servers` is killed, fixtures stopped, both directories removed and the
 *  variables unset. Read `root`/`tree` inside tests: each test gets new ones. */
export function serviceTreeEachTest(prefix: string, opts: { mode?: number; env?: Record<string, string | undefined> } = {}): { root: string; tree: string; servers: number[] } {
  const ctx = { root: '', tree: '', servers: [] as number[] };
  const env = opts.env ?? {};
  beforeEach(() => {
    ctx.root = freshRoot();
    ctx.tree = mkdtempSync(join(tmpdir(), prefix));
    if (opts.mode !== undefined) chmodSync(ctx.tree, opts.mode);
    process.env.CS_PATH = ctx.tree;
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    ctx.servers = [];
    makeAuthFd();
  });
  afterEach(async () => {
    killPids(ctx.servers);
    await killFixtures();
    removeRoot(ctx.root);
    removeRoot(ctx.tree);
    delete process.env.CS_PATH;
    for (const k of Object.keys(env)) delete process.env[k];
  });
  return ctx;
}

/** Write `text` on `conn` and read until as many characters came back (an echo). */
export async function echoed(conn: cs.Connection, text = 'hello'): Promise<string> {
  conn.write(text);
  let got = '';
  for await (const chunk of conn) {
    got += chunk;
    if (got.length >= text.length) break;
  }
  return got;
}

/** SIGKILL every pid in `pids` that is still there. */
export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

/** A connected loopback tcp pair, both ends non-blocking: [accepted (server) end, client end]. */
export function tcpPair(): [number, number] {
  const l = sys.socket(sys.AF_INET, sys.SOCK_STREAM | sys.SOCK_NONBLOCK);
  try {
    sys.bind(l, sys.inetAddr('127.0.0.1', 0));
    sys.listen(l, 1);
    const b = sys.socket(sys.AF_INET, sys.SOCK_STREAM | sys.SOCK_NONBLOCK);
    sys.connect(b, sys.inetAddr('127.0.0.1', sys.localInet(l).port));
    for (let i = 0; i < 100; i++) {
      const a = sys.accept(l, sys.SOCK_NONBLOCK);
      if (a >= 0) return [a, b];
      sys.poll(new Int32Array([l, sys.POLLIN]), 1, 100);
    }
    throw new Error('loopback connection not accepted');
  } finally {
    sys.close(l);
  }
}

/** Resident memory of process `pid` in KiB (VmRSS of /proc/<pid>/status). */
export function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** CPU time process `pid` has used so far (user + system), in clock ticks (1/100 s). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

/** Descriptors process `pid` has open. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * `name(i)` for the first i whose hashed tcp port lies outside the kernel's ephemeral
 * range: a test that expects a service on its hashed port must not find it taken by
 * some other test's outgoing connection (cs then binds another port, by design).
 */
export function outsideEphemeral(name: (i: number) => string): string {
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  for (let i = 0; ; i++) {
    const port = hashPort(name(i));
    if (port < low! || port > high!) return name(i);
  }
}
