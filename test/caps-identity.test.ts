// CAPS messages name the process that wrote them (SCM_CREDENTIALS per frame), not the
// one that opened the connection: auto-started services, client streams shared with a
// child that dropped to nobody, a reply written by another process than the greeter,
// and frames or descriptors that two processes interleaved, which are refused.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import type { Connection, Listener } from '../src';
import * as sys from '../src/sys';
import { DISPOSE, HEADER_SIZE, HELLO, HELLO_SIZE, REPLY, REQUEST, WELCOME, WELCOME_SIZE, helloPayload, welcomePayload, writeHeader } from '../src/caps/frame';
import { Agent } from './fixtures/caps-driver';
import { FIXTURES, finish, freshRootEachTest, isRoot, killPids, startFixture, testIf } from './helpers';

const NOBODY = 65534;
const ANY = cs.CAPF_ANYCLIENT;
const SYS = join(__dirname, '..', 'dist', 'src', 'sys');
let seq = 0;
const unique = (what: string) => `${what}_${process.pid}_${seq++}`;

freshRootEachTest();

function frame(type: number, id: number, payload: Buffer = Buffer.alloc(0), nfds = 0): Buffer {
  const b = Buffer.alloc(HEADER_SIZE + payload.length);
  writeHeader(b, 0, payload.length, type, nfds, 0, id);
  payload.copy(b, HEADER_SIZE);
  return b;
}

/** Exactly `n` bytes from `conn`, within 5 s; null at end of stream. */
async function take(conn: Connection, n: number): Promise<Buffer | null> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const b = conn.read(n) as Buffer | null;
    if (b) return b;
    if (conn.readableEnded) return null;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${n} bytes within 5 s`)), Math.max(deadline - Date.now(), 0));
      const done = () => {
        clearTimeout(timer);
        conn.off('readable', done).off('end', done);
        resolve();
      };
      conn.on('readable', done).on('end', done);
    });
  }
}

/** The next frame on `conn`: its header fields and payload; null at end of stream. */
async function nextFrame(conn: Connection): Promise<{ type: number; id: number; payload: Buffer } | null> {
  const h = await take(conn, HEADER_SIZE);
  if (!h) return null;
  const length = h.readUInt32LE(0);
  const payload = length === 0 ? Buffer.alloc(0) : await take(conn, length);
  if (!payload) return null;
  return { type: h[4], id: h.readUInt32LE(8), payload };
}

/** The end of stream that a service closing the link gives (no frame before it), within 5 s. */
async function closedByPeer(conn: Connection): Promise<boolean> {
  return (await take(conn, 1)) === null;
}

function write(conn: Connection, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => conn.write(b, (e) => (e ? reject(e) : resolve())));
}

/**
 * Run `code` (node, with `sys` = the built sys layer and `out` = fd 3, a stream of this
 * process) in a child, as nobody when `asNobody`; resolves with its pid once it exited 0.
 */
async function child(code: string, stream: number, asNobody: boolean): Promise<number> {
  const argv = [process.execPath, '-e', `const sys = require(${JSON.stringify(SYS)}); const out = 3; ${code}`];
  const [cmd, args] = asNobody ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...argv]] : [argv[0]!, argv.slice(1)];
  const c = spawn(cmd, args, { env: process.env, stdio: ['ignore', 'pipe', 'pipe', stream] });
  const done = await finish(c, 'writer child', 10000);
  expect({ code: done.code, stderr: done.stderr }).toEqual({ code: 0, stderr: '' });
  return c.pid!;
}

/** Child code: one sendmsg of `b` to fd 3, with `pipes` pipe descriptors attached. */
const writes = (b: Buffer, pipes = 0) =>
  `const b = Buffer.from('${b.toString('hex')}', 'hex'); const fds = [];` +
  ` for (let i = 0; i < ${pipes}; i++) { const [r, w] = sys.pipe(); sys.close(w); fds.push(r); }` +
  ' if (sys.sendFds(out, b, fds) !== b.length) throw new Error("short write");';

/** A root CAPS service (caps-service.js) for anyone, and a raw client stream to it that has said HELLO. */
async function serviceAndRawClient(): Promise<{ svcPid: number; conn: Connection }> {
  const name = unique('raw');
  const svc = await startFixture('caps-service.js', [name, JSON.stringify({ access: ANY })]);
  const conn = (await cs.open(cs.capsPath({ name, uid: 0, gid: -1 }))) as Connection;
  await write(conn, frame(HELLO, 0, helloPayload(ANY, cs.CAPS_MAXLARGEMSG)));
  const w = await nextFrame(conn);
  expect(w).toMatchObject({ type: WELCOME });
  expect(w!.payload.readUInt16LE(6)).toBe(0);
  return { svcPid: JSON.parse(svc.line).pid, conn };
}

describe('each CAPS message names the process that wrote it', () => {
  let tree = '';
  let pids: number[] = [];
  afterEach(() => {
    killPids(pids);
    pids = [];
    if (tree) rmSync(tree, { recursive: true, force: true });
    tree = '';
    delete process.env.CS_PATH;
  });

  test('a client that auto-starts a service: replies name the service process, requests name the client', async () => {
    const name = unique('auto');
    tree = mkdtempSync(join(tmpdir(), 'cs-capsid-'));
    const dir = join(tree, 'lib', 'cs', 'fdp', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'server'), `#!/bin/sh\nexec '${process.execPath}' '${join(FIXTURES, 'caps-service.js')}' '${name}'\n`);
    chmodSync(join(dir, 'server'), 0o755);
    process.env.CS_PATH = tree;
    const client = await cs.caps.client(name);
    try {
      const pid = await client.call(Buffer.from('pid'));
      const serverPid = Number(pid.data.toString());
      pids.push(serverPid);
      expect(readFileSync(`/proc/${serverPid}/cmdline`, 'utf8')).toContain('caps-service.js');
      expect(serverPid).not.toBe(process.pid);
      expect(pid.cred).toMatchObject({ pid: serverPid, uid: process.geteuid!(), gid: process.getegid!() });
      const seen = await client.call(Buffer.from('cred'));
      expect(JSON.parse(seen.data.toString())).toMatchObject({ pid: process.pid, uid: process.geteuid!() });
    } finally {
      client.close();
    }
  });

  testIf(isRoot, 'needs root to drop a child to nobody')('a client stream shared with a child that dropped to nobody: each request names its writer', async () => {
    const { conn } = await serviceAndRawClient();
    const childPid = await child(writes(frame(REQUEST, 7, Buffer.from('cred'))), conn.fd, true);
    await write(conn, frame(REQUEST, 8, Buffer.from('cred')));
    const first = await nextFrame(conn);
    const second = await nextFrame(conn);
    expect([first!.type, first!.id, second!.type, second!.id]).toEqual([REPLY, 7, REPLY, 8]);
    expect(JSON.parse(first!.payload.toString())).toEqual({ pid: childPid, uid: NOBODY, euid: NOBODY, gid: NOBODY, groups: [] });
    expect(JSON.parse(second!.payload.toString())).toMatchObject({ pid: process.pid, uid: 0, euid: 0, gid: 0 });
    conn.destroy();
  });

  testIf(isRoot, 'needs root to drop a child to nobody')('a reply written by another process than the one that greeted names that process', async () => {
    const name = unique('replier');
    const key = { name, uid: 0, gid: -1 };
    const listener = (await cs.listen(cs.capsPath(key))) as Listener;
    const cli = await Agent.start();
    try {
      const portCall = cli.call('client', { ...key, flags: ANY });
      const conn = (await listener.accept())!;
      expect(await take(conn, HEADER_SIZE + HELLO_SIZE)).not.toBeNull();
      await write(conn, frame(WELCOME, 0, welcomePayload(0, 1n, 1, 0))); // a version 1 service
      const port = await portCall;
      expect(WELCOME_SIZE).toBe(16);

      const id = Number(await cli.call('put', { port, text: 'one' }));
      expect(await nextFrame(conn)).toMatchObject({ type: REQUEST, id });
      const childPid = await child(writes(frame(REPLY, id, Buffer.from('from-child'))), conn.fd, true);
      expect(await cli.call('wait', { port })).toMatchObject({
        text: 'from-child', state: cs.CAPMS_REPLY, cred: { pid: childPid, uid: NOBODY, euid: NOBODY, gid: NOBODY, groups: [] },
      });

      expect(await nextFrame(conn)).toMatchObject({ type: DISPOSE, id });
      const id2 = Number(await cli.call('put', { port, text: 'two' }));
      expect(await nextFrame(conn)).toMatchObject({ type: REQUEST, id: id2 });
      await write(conn, frame(REPLY, id2, Buffer.from('from-greeter')));
      expect(await cli.call('wait', { port })).toMatchObject({ text: 'from-greeter', cred: { pid: process.pid, uid: 0, gid: 0 } });
      conn.destroy();
    } finally {
      await listener.close();
    }
  });
});

describe('what two writers interleaved cannot be attributed, and is refused', () => {
  test('a frame begun by one process and finished by another closes the link; the same split from one process is served', async () => {
    const whole = frame(REQUEST, 3, Buffer.from('echo:split'));
    const [head, tail] = [whole.subarray(0, HEADER_SIZE + 4), whole.subarray(HEADER_SIZE + 4)];

    const { conn } = await serviceAndRawClient();
    await write(conn, head);
    await child(writes(tail), conn.fd, false);
    expect(await closedByPeer(conn)).toBe(true);
    conn.destroy();

    const alone = (await serviceAndRawClient()).conn;
    await write(alone, head);
    await new Promise((r) => setTimeout(r, 50));
    await write(alone, tail);
    expect(await nextFrame(alone)).toMatchObject({ type: REPLY, id: 3, payload: Buffer.from('split') });
    alone.destroy();
  });

  test('a frame that would claim descriptors another process sent closes the link; from one process they are claimed', async () => {
    const spare = frame(REQUEST, 1, Buffer.from('echo:spare')); // no descriptors announced, one attached
    const claim = frame(REQUEST, 2, Buffer.from('echo:claimed'), 1); // one announced, none attached

    // the child's spare descriptor waits; this process's frame claims it
    const a = await serviceAndRawClient();
    await child(writes(spare, 1), a.conn.fd, false);
    expect(await nextFrame(a.conn)).toMatchObject({ type: REPLY, id: 1 });
    expect(sys.sendFds(a.conn.fd, claim, [])).toBe(claim.length);
    expect(await closedByPeer(a.conn)).toBe(true);
    a.conn.destroy();

    // descriptors of two processes waiting together
    const b = await serviceAndRawClient();
    await child(writes(spare, 1), b.conn.fd, false);
    expect(await nextFrame(b.conn)).toMatchObject({ type: REPLY, id: 1 });
    const [r, w] = sys.pipe();
    sys.close(w);
    expect(sys.sendFds(b.conn.fd, frame(REQUEST, 4, Buffer.from('echo:mine')), [r])).toBeGreaterThan(0);
    sys.close(r);
    expect(await closedByPeer(b.conn)).toBe(true);
    b.conn.destroy();

    // one process alone: the spare descriptor is claimed by its next frame
    const c = await serviceAndRawClient();
    const [cr, cw] = sys.pipe();
    sys.close(cw);
    expect(sys.sendFds(c.conn.fd, spare, [cr])).toBe(spare.length);
    sys.close(cr);
    expect(await nextFrame(c.conn)).toMatchObject({ type: REPLY, id: 1 });
    expect(sys.sendFds(c.conn.fd, claim, [])).toBe(claim.length);
    expect(await nextFrame(c.conn)).toMatchObject({ type: REPLY, id: 2, payload: Buffer.from('claimed') });
    c.conn.destroy();
  });
});
