// Servers out of descriptors: a serve() server, the echo service and a tcp listen()
// server run under a small RLIMIT_NOFILE and get more clients than they can hold.
// They must neither spin nor flood their log, and must serve again once clients leave.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import * as cs from '../src';
import { recordedPid, type MountDir } from '../src/namespace';
import { resolveService } from '../src/launch/service';
import { cpuTicks, fdCount, FIXTURES, serviceTreeEachTest, echoed } from './helpers';

const ROOT_DIR = join(__dirname, '..');
/** Less than 20% of one core over the measured window (clock ticks are 1/100 s). */
const WINDOW_MS = 3000;
const MAX_TICKS = (0.2 * WINDOW_MS) / 10;

let seq = 0;
// clients left in the backlog wait through the whole test
const ctx = serviceTreeEachTest('cs-limits-', { env: { CS_TIMEOUT_MS: '30000' } });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A launch entry that runs `command "$1"` with at most `nofile` descriptors; returns its path. */
function limitedService(what: string, nofile: number, command: string): `/dev/fdp/${string}` {
  const name = `${what}${process.pid}x${seq++}`;
  const dir = join(ctx.tree, 'lib', 'cs', 'fdp', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'server'), `#!/bin/sh\nulimit -n ${nofile}\nexec ${command} "$1"\n`);
  chmodSync(join(dir, 'server'), 0o755);
  return `/dev/fdp/local/${name}`;
}

function md(path: string): MountDir {
  return resolveService(path).md;
}

/** Lines the server of `path` logged so far. */
function logLines(path: string): string[] {
  return readFileSync(md(path).log, 'utf8').split('\n').filter(Boolean);
}

/** CPU ticks `pid` uses over the window. */
async function ticksOver(pid: number): Promise<number> {
  const start = cpuTicks(pid);
  await sleep(WINDOW_MS);
  return cpuTicks(pid) - start;
}


/**
 * Start the fdp service `path` (a byte echo under `ulimit -n 256`), hold 400 connections
 * to it, and check it idles while saturated, logs little, and serves once they are gone.
 */
async function saturate(path: `/dev/fdp/${string}`): Promise<void> {
  const first = await cs.open(path);
  const pid = recordedPid(md(path))!;
  ctx.servers.push(pid);
  expect(await echoed(first, 'before')).toBe('before');
  const held: cs.Connection[] = [];
  const refused: string[] = [];
  const opening = Array.from({ length: 400 }, () => cs.open(path).then(
    (c) => {
      c.on('error', () => {});
      held.push(c);
    },
    (e: cs.CsError) => void refused.push(e.code),
  ));
  await sleep(2000); // every client connected, the server took what it could
  expect(held.length).toBeGreaterThan(150);
  expect(fdCount(pid)).toBeLessThanOrEqual(256);
  const ticks = await ticksOver(pid);
  expect(ticks).toBeLessThan(MAX_TICKS);

  expect(logLines(path).length).toBeLessThan(10);
  // only a full backlog refuses (EAGAIN at connect); the rest wait for the server
  expect(refused.filter((c) => c !== 'EAGAIN')).toEqual([]);

  first.destroy();
  for (const c of held.splice(0)) c.destroy();
  // those that waited in the backlog are served now, and so is a new client
  await Promise.all(opening);
  for (const c of held) c.destroy();
  const again = await cs.open(path);
  expect(await echoed(again, 'after')).toBe('after');
  again.destroy();
  expect(logLines(path).length).toBeLessThan(10);
}

describe('out of descriptors, a server pauses accepting instead of spinning', () => {
  test('serve() under ulimit -n 256 with 400 clients', async () => {
    await saturate(limitedService('serve', 256, `node '${join(FIXTURES, 'launch-server.js')}'`));
  });

  test('the echo service under ulimit -n 256 with 400 clients', async () => {
    await saturate(limitedService('echo', 256, `node '${join(ROOT_DIR, 'dist/cs-services/echo/main.js')}'`));
  });

  test('a tcp listen() server under ulimit -n 64 with 80 silent peers', async () => {
    const name = `silent${process.pid}x${seq++}`;
    const child = spawn('sh', ['-c', 'ulimit -n 64; exec "$0" "$@"', process.execPath, join(FIXTURES, 'net-server.js'), `/dev/tcp/local/${name}`, 'echo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    ctx.servers.push(child.pid!);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const ready = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (d) => resolve(String(d)));
      child.once('exit', () => reject(new Error(`net-server exited: ${stderr}`)));
    });
    const port = Number(/\/(\d+)\s*$/.exec(ready)![1]);
    const peers: Socket[] = [];
    for (let i = 0; i < 80; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      peers.push(s);
    }
    await sleep(2000);
    const ticks = await ticksOver(child.pid!);
    expect(ticks).toBeLessThan(MAX_TICKS);
    expect(stderr.split('\n').filter(Boolean).length).toBeLessThan(10);
    expect(stderr).toMatch(/EMFILE.*new connections wait in the backlog/);

    for (const s of peers) s.destroy();
    const sock = await cs.open(`/dev/tcp/127.0.0.1/${port}`);
    sock.write('after');
    const [reply] = (await Promise.race([
      new Promise((resolve) => sock.once('data', (d) => resolve([String(d)]))),
      sleep(5000).then(() => ['no reply in 5 s']),
    ])) as string[];
    expect(reply).toBe('after');
    sock.destroy();
  });
});
