// The C-shaped waits between real processes: a silent client costs a listener only
// $CS_TIMEOUT_MS, and a signal the program handles ends a blocking wait with EINTR
// (so Node can run its listener) while a child's exit does not.
import { spawn } from 'node:child_process';
import { mkdtempSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { FIXTURES, finish, freshRoot, killFixtures, removeRoot, startFixture, type Started } from './helpers';
import { resolveService } from '../src/launch/service';

let root: string;
let seq = 0;
const name = (what: string) => `/dev/fdp/local/${what}${process.pid}x${seq++}`;

beforeEach(() => {
  root = freshRoot();
});
afterEach(async () => {
  await killFixtures();
  removeRoot(root);
});

/** The next JSON line `s` prints, within `ms`. */
async function nextLine(s: Started, ms = 10000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ms;
  while (s.lines.length === 0) {
    if (Date.now() > deadline) throw new Error('no line in time');
    await new Promise((r) => setTimeout(r, 20));
  }
  return JSON.parse(s.lines.shift()!);
}

/** Connect to an fdp service by hand and take its greeting, then say nothing. */
function silentClient(path: string): number {
  const fd = sys.socket(sys.AF_UNIX, sys.SOCK_STREAM);
  sys.connect(fd, sys.unixAddr(resolveService(path).md.socket));
  expect(cs.cspoll([{ fd, events: 'r' }], 5000)).toHaveLength(1);
  readSync(fd, Buffer.alloc(1));
  return fd;
}

describe('a listener and a silent client', () => {
  test('csrecv fails with ETIMEDOUT after CS_TIMEOUT_MS and the next csrecv serves a client that connected meanwhile', async () => {
    const path = name('silent');
    const server = await startFixture('wait-peer.js', ['accept', path], { env: { CS_TIMEOUT_MS: '500' } });
    expect(JSON.parse(server.line)).toEqual({ ready: true, blocking: true });
    const silent = silentClient(path);
    const client = await startFixture('stream-peer.js', [path, 'open']);
    try {
      expect(await nextLine(server)).toEqual({ code: 'ETIMEDOUT', ms: expect.any(Number) });
      expect(JSON.parse(client.line)).toEqual({ ok: true, said: 'hi' });
      const served = await nextLine(server);
      expect(served).toEqual({ ok: true, ms: expect.any(Number), blocking: true });
    } finally {
      sys.close(silent);
    }
  });

  test('the silent client costs the listener no more than CS_TIMEOUT_MS', async () => {
    const path = name('silent');
    const server = await startFixture('wait-peer.js', ['accept', path], { env: { CS_TIMEOUT_MS: '500' } });
    const silent = silentClient(path);
    const greeted = Date.now();
    try {
      const r = await nextLine(server);
      expect(r.code).toBe('ETIMEDOUT');
      expect(Date.now() - greeted).toBeLessThan(1500);
    } finally {
      sys.close(silent);
    }
  });
});

describe('signals end blocking waits', () => {
  for (const [mode, syscall] of [['cspoll', 'cspoll'], ['csrecv', 'csrecv'], ['listener', 'csrecv'], ['caps_sys_wait', 'caps_sys_wait']]) {
    test(`SIGUSR2 during ${mode === 'listener' ? 'csrecv on a listener' : mode} throws EINTR and its JS listener then runs`, async () => {
      const s = await startFixture('wait-peer.js', [mode, name('sig')]);
      await new Promise((r) => setTimeout(r, 300)); // let it enter the wait
      s.child.kill('SIGUSR2');
      expect(await nextLine(s, 5000)).toEqual({ code: 'EINTR', syscall, ranBefore: false, handled: true });
    });
  }

  test('the profiler of node --cpu-prof does not end waits (its SIGPROF waits until after them)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-prof-'));
    try {
      const child = spawn(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '200', join(FIXTURES, 'wait-peer.js'), 'quiet'], { env: process.env });
      const out = await finish(child, 'wait-peer under --cpu-prof', 20000);
      const r = JSON.parse(out.stdout.trim().split('\n').pop()!);
      expect(r).toEqual({ code: null, ms: expect.any(Number), exited: false });
      expect(r.ms).toBeGreaterThanOrEqual(1450);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a child exiting during cspoll does not end the wait (SIGCHLD waits until after it)', async () => {
    const s = await startFixture('wait-peer.js', ['sigchld']);
    const r = await nextLine(s, 5000);
    expect(r).toEqual({ code: null, ms: expect.any(Number), exited: true });
    expect(r.ms).toBeGreaterThanOrEqual(1450);
  });
});
