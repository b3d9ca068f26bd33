// The async Connection against real peers: it ends like a net.Socket when the peer
// closes (no reader needed, no fd left behind), and bytes and cssend records on
// one stream never lose each other, whichever way the bytes are read.
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import * as cs from '../src';
import * as sys from '../src/sys';
import { Connection, READ_MAX } from '../src/stream/connection';
import { QUEUED_MAX } from '../src/sys/msg';
import { freshRootEachTest, isRoot, openFds, startFixture, testIf, type Started } from './helpers';

const SO_SNDBUF = 7;
/** Room for a whole burst in one socket buffer, so a sender never waits for a late reader. */
const BIG_BUFFER = 4 << 20;
const roomForBursts = 2 * Number(readFileSync('/proc/sys/net/core/wmem_max', 'utf8')) >= BIG_BUFFER;

let seq = 0;
const name = (what: string): `/dev/fdp/${string}` => `/dev/fdp/local/${what}${process.pid}x${seq++}`;

freshRootEachTest();

/** `p`, or a failure naming `what` after `ms`: nothing here may wait forever. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: still waiting after ${ms} ms`)), ms)));
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until `probe()` holds (at most `ms`); its last value. */
async function until<T>(ms: number, probe: () => T, ok: (v: T) => boolean): Promise<T> {
  const end = Date.now() + ms;
  let v = probe();
  while (!ok(v) && Date.now() < end) {
    await sleep(50);
    v = probe();
  }
  return v;
}

/** Descriptors open now that were not in `before`, once transient ones (child stdio) are gone. */
const newFds = (before: string[]) => until(5000, () => openFds().filter((f) => !before.includes(f)), (added) => added.length === 0);

/** The sender fixture's payload: byte i of the byte steps is (7i + 3) & 255. */
function expectPattern(got: Buffer, total: number): void {
  expect(got.length).toBe(total);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== ((7 * i + 3) & 255)) throw new Error(`byte ${i} of ${total} is ${got[i]}, expected ${(7 * i + 3) & 255}`);
  }
}

function pattern(from: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (7 * (from + i) + 3) & 255;
  return b;
}

/** What a memfd from the sender holds ("fd-<j>"), read without moving its offset. */
function memfdText(fd: number): string {
  const b = Buffer.alloc(16);
  return b.toString('utf8', 0, readSync(fd, b, 0, 16, 0));
}

type Reader = 'data' | 'for await' | 'pipe';

/** Every byte of `conn`, read the given way, once the peer has ended. */
async function readBytes(conn: Connection, how: Reader): Promise<Buffer> {
  const parts: Buffer[] = [];
  if (how === 'data') {
    conn.on('data', (c: Buffer) => parts.push(c));
    await new Promise((r) => conn.once('end', r));
  } else if (how === 'for await') {
    for await (const c of conn) parts.push(c as Buffer);
  } else {
    // a slow destination, so the connection's buffer fills and reading pauses
    const sink = new Writable({ highWaterMark: 1024, write: (c: Buffer, _e, cb) => (parts.push(c), setImmediate(cb)) });
    conn.pipe(sink);
    await finished(sink);
  }
  return Buffer.concat(parts);
}

interface Plan {
  steps: object[];
  bytes: number;
  /** Descriptor counts of the records, in order. */
  records: number[];
}

function plan(steps: ({ bytes: number } | { fds: number } | { sndbuf: number })[]): Plan {
  let bytes = 0;
  const records: number[] = [];
  for (const s of steps) {
    if ('bytes' in s) bytes += s.bytes;
    if ('fds' in s) records.push(s.fds);
  }
  return { steps, bytes, records };
}

/** Run the sender fixture with `p` against a fresh service; the accepted Connection. */
async function connectSender(p: object[]): Promise<{ conn: Connection; sender: Started; listener: cs.Listener }> {
  const path = name('mix');
  const listener = await cs.listen(path);
  const sender = await startFixture('conn-sender.js', [path, JSON.stringify(p)]);
  const conn = (await within(5000, 'accept', listener.accept()))!;
  return { conn, sender, listener };
}

describe('a Connection ends like a net.Socket', () => {
  test("the README's 30-second server, 1000 clients one after another: its descriptor count returns to the baseline", async () => {
    const path = name('hello');
    const server = await startFixture('conn-hello.js', [path]);
    const pid = Number(server.line.split(' ')[1]);
    const serverFds = () => readdirSync(`/proc/${pid}/fd`).length;
    const hostname = readFileSync('/etc/hostname', 'utf8');
    const client = async () => {
      const conn = await cs.open(path);
      const { fds: [fd] } = await within(5000, 'recvFds from the hello server', conn.recvFds());
      const text = readFileSync(fd, 'utf8');
      closeSync(fd);
      conn.destroy();
      return text;
    };
    for (let i = 0; i < 5; i++) expect(await client()).toBe(hostname); // warm up
    const baseline = await until(3000, serverFds, () => false);
    for (let i = 0; i < 1000; i++) await client();
    const after = await until(10000, serverFds, (n) => Math.abs(n - baseline) <= 2);
    expect(Math.abs(after - baseline)).toBeLessThanOrEqual(2);
    expect(server.lines.filter((l) => l.startsWith('client pid')).length).toBe(1005);
  }, 120000);

  test('serve() sees a client that closed without the handler reading: the server retires when idle', async () => {
    const path = name('serve');
    const server = await startFixture('conn-serve.js', [path], { env: { CS_IDLE_MS: '500' } });
    const conn = await cs.open(path);
    const { fds } = await within(5000, 'recvFds', conn.recvFds());
    sys.closeAll(fds);
    conn.destroy();
    expect(await within(10000, 'the idle server to exit', server.exited)).toBe(0);
  });

  test("'end' and 'close' come when the peer closes, with no reader; the fd is closed exactly once", async () => {
    const path = name('end');
    const listener = await cs.listen(path);
    const sender = await startFixture('conn-sender.js', [path, JSON.stringify([{ wait: true }])]);
    const conn = (await within(5000, 'accept', listener.accept()))!;
    const events: string[] = [];
    conn.on('end', () => events.push('end'));
    const closed = new Promise((r) => conn.once('close', r));
    await sleep(200);
    expect(events).toEqual([]); // the peer is still there
    sender.child.stdin!.write('\n');
    await within(5000, "'close' after the peer closed", closed);
    expect(events).toEqual(['end']);
    expect(() => fstatSync(conn.fd)).toThrow(); // closed
    // new files take the freed number; destroying again must not close any of them
    const reuse: number[] = [];
    do reuse.push(openSync('/etc/hostname', 'r'));
    while (reuse[reuse.length - 1] < conn.fd);
    expect(reuse).toContain(conn.fd);
    conn.destroy();
    for (const fd of reuse) expect(fstatSync(fd).isFile()).toBe(true);
    reuse.forEach((fd) => closeSync(fd));
    listener.close();
  });

  test('a peer closing while recvFds() waits rejects it with ECONNRESET', async () => {
    const { conn, sender, listener } = await connectSender([{ bytes: 10 }, { wait: true }]);
    const wait = conn.recvFds();
    await sleep(100);
    sender.child.stdin!.write('\n');
    await expect(within(5000, 'recvFds', wait)).rejects.toMatchObject({ code: 'ECONNRESET', syscall: 'csrecv' });
    conn.resume();
    listener.close();
  });
});

describe('sendFds() and its signal', () => {
  test('an aborted signal rejects at once with an AbortError, and nothing is sent', async () => {
    const [a, b] = cs.Connection.pair();
    const ac = new AbortController();
    const why = new Error('not now');
    ac.abort(why);
    const file = openSync('/dev/null', 'r');
    await expect(a.sendFds([file], { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: why });
    await a.sendFds([file]);
    const r = await within(5000, 'the record', b.recvFds());
    expect(r.fds.length).toBe(1);
    expect(fstatSync(r.fds[0]).rdev).toBe(fstatSync(file).rdev);
    sys.closeAll([file, ...r.fds]);
    a.destroy();
    b.destroy();
  });

  test('a send waiting for room in a full socket is aborted by its signal and sends nothing; the next goes once there is room', async () => {
    const [mine, theirs] = sys.socketpair(sys.SOCK_STREAM | sys.SOCK_NONBLOCK);
    const a = cs.Connection.attach(mine);
    const filler = Buffer.alloc(1 << 16);
    let queued = 0;
    for (let n; (n = sys.writeRaw(a.fd, filler)) > 0; ) queued += n;
    const file = openSync('/dev/null', 'r');
    const ac = new AbortController();
    const waiting = a.sendFds([file], { signal: ac.signal });
    await sleep(50);
    ac.abort();
    await expect(within(5000, 'the aborted send', waiting)).rejects.toMatchObject({ name: 'AbortError' });
    const sent = a.sendFds([file]);
    // only the filler is queued: the aborted record never went
    for (let n; (n = sys.readRaw(theirs, filler)) > 0; ) queued -= n;
    expect(queued).toBe(0);
    await within(5000, 'the send', sent);
    const r = cs.csrecv(theirs, 1);
    expect(r.fds.length).toBe(1);
    sys.closeAll([file, theirs, ...r.fds]);
    a.destroy();
  });
});

describe('bytes and records on one Connection', () => {
  const burstWhy = 'net.core.wmem_max is too small for a 4 MiB socket buffer';
  const cases: [string, Plan, boolean][] = [
    ['bytes, a record with 2 fds, bytes', plan([{ bytes: 1000 }, { fds: 2 }, { bytes: 1000 }]), true],
    ['two records back to back between bytes', plan([{ bytes: 10 }, { fds: 2 }, { fds: 1 }, { bytes: 10 }]), true],
    ['a record behind more bytes than one read takes, then more records',
      plan([{ sndbuf: BIG_BUFFER }, { bytes: 2 * READ_MAX + 13 }, { fds: 2 }, { bytes: 5000 }, { fds: 2 }, { fds: 1 }, { bytes: 77 }]), roomForBursts],
  ];
  const readers: Reader[] = ['data', 'for await', 'pipe'];
  for (const [what, p, runnable] of cases) for (const how of readers) testIf(runnable, burstWhy)(`${what}, bytes read with ${how}: every byte in order, every fd usable`, async () => {
    const before = openFds();
    const { conn, listener } = await connectSender(p.steps);
    const bytes = readBytes(conn, how);
    const got: number[][] = [];
    for (const k of p.records) {
      const r = await within(10000, `record ${got.length + 1}`, conn.recvFds());
      expect(r.id.pid).toBeGreaterThan(0);
      expect(r.fds.length).toBe(k);
      got.push(r.fds);
    }
    expectPattern(await within(10000, 'the bytes', bytes), p.bytes);
    for (const fds of got) {
      expect(fds.map(memfdText)).toEqual(fds.map((_, j) => `fd-${j}`));
      sys.closeAll(fds);
    }
    listener.close();
    expect(await newFds(before)).toEqual([]);
  });

  // In one process the whole burst is queued before the event loop lets the
  // Connection read, so the record sits exactly where each case puts it.
  for (const lead of [READ_MAX - 40, READ_MAX - 32, READ_MAX - 31, READ_MAX - 16, READ_MAX - 1, READ_MAX, READ_MAX + 5, 2 * READ_MAX - 20]) testIf(roomForBursts, burstWhy)(`a record ${lead} bytes into a burst that fills a read arrives whole, with every byte around it`, async () => {
    const before = openFds();
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    sys.setsockoptInt(a, sys.SOL_SOCKET, SO_SNDBUF, BIG_BUFFER);
    const send = (buf: Buffer) => {
      for (let off = 0; off < buf.length; ) off += sys.writeRaw(a, buf.subarray(off));
    };
    const m = [sys.memfd('m'), sys.memfd('m'), sys.memfd('m')];
    m.forEach((fd, j) => sys.writeRaw(fd, Buffer.from(`fd-${j}`)));
    send(pattern(0, lead));
    cs.cssend(a, [m[0], m[1]]);
    send(pattern(lead, 1000));
    cs.cssend(a, [m[2]]);
    send(pattern(lead + 1000, 10));
    sys.close(a);
    sys.closeAll(m);
    sys.setNonBlocking(b, true);
    const conn = new Connection(b, '/dev/fdp/local/pair', new sys.Watcher(b));
    const bytes = readBytes(conn, 'data');
    const r1 = await within(5000, 'first record', conn.recvFds());
    const r2 = await within(5000, 'second record', conn.recvFds());
    expectPattern(await within(5000, 'the bytes', bytes), lead + 1010);
    expect(r1.fds.map(memfdText)).toEqual(['fd-0', 'fd-1']);
    expect(r2.fds.map(memfdText)).toEqual(['fd-2']);
    sys.closeAll([...r1.fds, ...r2.fds]);
    expect(await newFds(before)).toEqual([]);
  });
});

describe('a read takes everything queued (no FIONREAD first), so it never ends inside a record', () => {
  const SO_SNDBUFFORCE = 32;
  testIf(isRoot, 'SO_SNDBUFFORCE needs CAP_NET_ADMIN')('beyond what one read can hold (a sender buffer raised past 64 MiB): a record is refused with EPROTO, not cut', async () => {
    const before = openFds();
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    sys.setsockoptInt(a, sys.SOL_SOCKET, SO_SNDBUFFORCE, 160 << 20);
    const lead = Buffer.alloc(READ_MAX + QUEUED_MAX - 10, 7); // the record straddles the end of what one read holds
    for (let off = 0; off < lead.length; ) off += sys.writeRaw(a, lead.subarray(off));
    const m = sys.memfd('m');
    cs.cssend(a, [m]);
    sys.close(m);
    sys.setNonBlocking(b, true);
    const conn = new Connection(b, '/dev/fdp/local/pair', new sys.Watcher(b));
    const closed = new Promise<Error | undefined>((resolve) => conn.on('error', resolve).on('close', () => resolve(undefined)));
    conn.resume();
    await expect(within(10000, 'recvFds', conn.recvFds())).rejects.toMatchObject({ code: 'EPROTO', syscall: 'recvmsg' });
    expect(await closed).toMatchObject({ code: 'EPROTO', message: expect.stringMatching(/where it ends is unknown/) });
    sys.close(a);
    expect(await newFds(before)).toEqual([]);
  });
});

describe('the cs record form (no auth descriptor) from a peer', () => {
  test('names its sender by the kernel, whatever pid it claims; its descriptors arrive and nothing leaks', async () => {
    const before = openFds();
    const { conn, sender, listener } = await connectSender([{ csRecord: { pid: 1, uid: process.geteuid!() }, fds: 2 }, { bytes: 5 }]);
    const r = await within(5000, 'recvFds', conn.recvFds());
    expect(r.id).toMatchObject({ pid: Number(sender.line.split(' ')[1]), uid: process.geteuid!(), gid: process.getegid!() });
    expect(r.fds.map(memfdText)).toEqual(['fd-0', 'fd-1']);
    sys.closeAll(r.fds);
    expectPattern(await within(5000, 'the bytes', readBytes(conn, 'data')), 5);
    listener.close();
    expect(await newFds(before)).toEqual([]);
  });

  test('is refused without the credentials of the kernel (sent before SO_PASSCRED), its descriptors closed', async () => {
    const before = openFds();
    const [a, b] = sys.socketpair(sys.SOCK_STREAM | sys.SOCK_NONBLOCK);
    const rec = Buffer.alloc(32);
    rec.writeBigUInt64LE(0x6373n, 0);
    rec.writeBigUInt64LE(BigInt(process.pid), 8);
    rec.writeBigUInt64LE(BigInt(process.geteuid!()), 16);
    rec.writeBigUInt64LE(BigInt(process.getegid!()), 24);
    const m = sys.memfd('m');
    sys.sendFds(a, rec, [m]);
    sys.close(m);
    const conn = new Connection(b, 'unix:', new sys.Watcher(b));
    await expect(within(5000, 'recvFds', conn.recvFds())).rejects.toMatchObject({ code: 'EPERM', syscall: 'csrecv' });
    conn.destroy();
    sys.close(a);
    expect(await newFds(before)).toEqual([]);
  });
});

describe('malformed records', () => {
  test.each([
    ['a 10-byte message with 2 fds', { raw: 10, fds: 2 }, 'EPROTO'],
    ['a record whose only descriptor is a pipe, not an auth file', { rawPipe: true }, 'EPERM'],
    ['a cs-form record (no auth descriptor) claiming another uid', { csRecord: { pid: process.pid, uid: process.geteuid!() + 4242 }, fds: 2 }, 'EPERM'],
  ])('%s: recvFds() fails with a code and every fd that came is closed', async (_what, step, code) => {
    const before = openFds();
    const { conn, listener } = await connectSender([step, { bytes: 5 }]);
    await expect(within(5000, 'recvFds', conn.recvFds())).rejects.toMatchObject({ code, syscall: 'csrecv' });
    expectPattern(await within(5000, 'the bytes', readBytes(conn, 'data')), 5);
    listener.close();
    expect(await newFds(before)).toEqual([]);
  });
});

const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;

describe('descriptors the kernel could not deliver', () => {
  testIf(hasPrlimit, 'needs prlimit(1)')('a receiver out of descriptors (MSG_CTRUNC): recvFds() fails with EMSGSIZE and closes the ones that came', async () => {
    const path = name('ctrunc');
    const receiver = await startFixture('conn-ctrunc.js', [path]);
    const pid = receiver.line.split(' ')[1];
    const sender = await startFixture('conn-sender.js', [path, JSON.stringify([{ wait: true }, { fds: 2 }, { bytes: 3 }])]);
    const line = async (prefix: string) => {
      const found = await until(5000, () => receiver.lines.find((l) => l.startsWith(prefix)), (l) => l !== undefined);
      if (!found) throw new Error(`receiver said no "${prefix}" line; it said ${JSON.stringify(receiver.lines)}`);
      return found.slice(prefix.length + 1);
    };
    const free = Number(await line('free'));
    const soft = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))![1];
    execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${free + 1}:`]);
    sender.child.stdin!.write('\n'); // the record: 2 fds (and an auth fd in the libcs form), room for one
    expect(await line('code')).toBe('EMSGSIZE');
    execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${soft}:`]);
    receiver.child.stdin!.write('\n');
    expect(await line('leaked')).toBe('[]');
  });
});
