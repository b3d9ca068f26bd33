// CAPS messages above 128 KiB, carried by sealed memfds between real processes: 64 MiB
// requests and replies both ways through both APIs, receivers that drop them unread, aborts,
// senders that try to change them after sending, ceilings, the large-request window,
// and hostile peers handing over descriptors that are not what they announce. Every
// test compares the descriptors of the processes involved before and after.
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import * as cs from '../src';
import * as sys from '../src/sys';
import { HEADER_SIZE, HELLO, REQUEST, SEALED, WELCOME, helloPayload, writeHeader } from '../src/caps/frame';
import { Agent } from './fixtures/caps-driver';
import { fdCount, freshRootEachTest, openFds, startFixture } from './helpers';

const ANY = cs.CAPF_ANYCLIENT;
const KiB = 1024;
const MiB = 1024 * KiB;
let seq = 0;
const unique = (what: string) => `${what}_${process.pid}_${seq++}`;

freshRootEachTest();

/** `size` bytes that differ from word to word, as the agent's `pattern` makes them. */
function patterned(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) b.writeUInt32LE(i, i);
  return b;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A service agent registered as (name, its uid, -1) for anyone, and a client agent connected to it. */
async function pair(what: string, env: { svc?: NodeJS.ProcessEnv; cli?: NodeJS.ProcessEnv } = {}) {
  const name = unique(what);
  const svc = await Agent.start({ env: env.svc });
  const sport = await svc.call('service', { name, uid: svc.uid, gid: -1, flags: ANY });
  const cli = await Agent.start({ env: env.cli });
  const cport = await cli.call('client', { name, uid: svc.uid, gid: -1, flags: ANY });
  return { name, path: cs.capsPath({ name, uid: svc.uid, gid: -1 }), svc, sport, cli, cport };
}

/** One frame with `nfds` descriptors following it in the same sendmsg. */
function frame(type: number, id: number, payload: Buffer, nfds = 0, arg = 0): Buffer {
  const b = Buffer.alloc(HEADER_SIZE + payload.length);
  writeHeader(b, 0, payload.length, type, nfds, arg, id);
  payload.copy(b, HEADER_SIZE);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

/** Up to `n` bytes from `fd`, fewer only at end of stream; each wait at most 5 s. */
function readUpTo(fd: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  let have = 0;
  while (have < n) {
    if (cs.cspoll([{ fd, events: 'r' }], 5000).length === 0) throw new Error('the service did not answer within 5 s');
    const r = sys.readRaw(fd, out.subarray(have));
    if (r === 0) break;
    if (r > 0) have += r;
  }
  return out.subarray(0, have);
}

/** A hand-made client of `path` that says HELLO as `version` and has its WELCOME. */
function rawClient(path: string, version = 2): number {
  const fd = cs.csopen(path);
  const hello = helloPayload(ANY, cs.CAPS_MAXLARGEMSG);
  hello.writeUInt16LE(version, 4);
  expect(sys.sendFds(fd, frame(HELLO, 0, hello), [])).toBe(HEADER_SIZE + hello.length);
  const welcome = readUpTo(fd, HEADER_SIZE + (version >= 2 ? 24 : 16));
  expect(welcome[4]).toBe(WELCOME);
  expect(welcome.readUInt16LE(HEADER_SIZE + 4)).toBe(version);
  expect(welcome.readUInt16LE(HEADER_SIZE + 6)).toBe(0);
  return fd;
}

/** Send a REQUEST whose message is said to be in `memfd`, `announced` bytes long. */
function sendSealed(fd: number, id: number, memfd: number, announced: number): void {
  expect(sys.sendFds(fd, frame(REQUEST, id, u64(announced), 1, SEALED), [memfd])).toBe(HEADER_SIZE + 8);
}

/** The service closed the connection without a word: end of stream within 5 s. */
function closedByService(fd: number): boolean {
  return cs.cspoll([{ fd, events: 'r' }], 5000).length === 1 && sys.readRaw(fd, Buffer.alloc(1)) === 0;
}

/** This process's descriptors that are memfds made for sealed messages. */
function sealedFds(): string[] {
  return readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`).includes('memfd:cs-sealed');
    } catch {
      return false; // the fd of the listing itself
    }
  });
}

describe('64 MiB round trips', () => {
  test('the idiomatic API: a 64 MiB call and its 64 MiB reply, content checked, descriptors unchanged on both sides', async () => {
    const name = unique('big');
    const svc = await startFixture('caps-service.js', [name]);
    const { pid } = JSON.parse(svc.line) as { pid: number };
    const client = await cs.caps.client(name, { uid: process.geteuid!() });
    try {
      const small = await client.call(Buffer.from('echo:warm'));
      expect(small.data.toString()).toBe('warm');
      const before = openFds();
      const svcBefore = fdCount(pid);
      const data = patterned(64 * MiB);
      const reply = await client.call(data);
      expect(reply.data.length).toBe(64 * MiB);
      expect(reply.data.equals(Buffer.from(data).reverse())).toBe(true);
      expect(reply.fds).toEqual([]);
      expect(openFds()).toEqual(before);
      expect(fdCount(pid)).toBe(svcBefore);
    } finally {
      await client.close();
    }
  }, 60000);

  test('the C-shaped calls: 64 MiB put and 64 MiB - 5 reply, a too-small buffer first leaves it queued, descriptors unchanged', async () => {
    const { svc, sport, cli, cport } = await pair('cbig');
    const svcBefore = await svc.call('fds');
    const cliBefore = await cli.call('fds');
    const id = await cli.call('put', { port: cport, size: 64 * MiB, pattern: true });
    expect(await svc.call('wait', { port: sport, size: 16 })).toMatchObject({ n: 64 * MiB, text: null, bufferUsed: false });
    const req = await svc.call('wait', { port: sport, size: 64 * MiB, text: false, digest: true }, 30000);
    expect(req).toMatchObject({ n: 64 * MiB, state: cs.CAPMS_REQUEST, digest: sha(patterned(64 * MiB)) });
    await svc.call('reply', { port: sport, id: req.id, size: 64 * MiB - 5, pattern: true }, 30000);
    const rep = await cli.call('wait', { port: cport, size: 64 * MiB - 5, text: false, digest: true }, 30000);
    expect(rep).toMatchObject({ n: 64 * MiB - 5, id, state: cs.CAPMS_REPLY, digest: sha(patterned(64 * MiB - 5)) });
    expect(await svc.call('wait', { port: sport })).toMatchObject({ state: cs.CAPMS_DISPOSE, id: req.id });
    expect(await svc.call('fds')).toBe(svcBefore);
    expect(await cli.call('fds')).toBe(cliBefore);
  }, 90000);
});

describe('receivers that drop a large message unread', () => {
  test('a C-shaped service that closes with a 64 MiB request queued (peeked or not): its memfd is closed, both sides back to their descriptors', async () => {
    const svc = await Agent.start();
    const cli = await Agent.start();
    /** Register, connect, put `size`, maybe peek with a 16-byte buffer, close the service unread: the client gets its empty reply. */
    const dropUnread = async (size: number, peek: boolean) => {
      const name = unique('drop');
      const sport = await svc.call('service', { name, uid: svc.uid, gid: -1, flags: ANY });
      const cport = await cli.call('client', { name, uid: svc.uid, gid: -1, flags: ANY });
      await cli.call('put', { port: cport, size });
      // not peeked, it is still in the socket: the kernel closes the memfd with the connection
      if (peek) expect((await svc.call('wait', { port: sport, size: 16 })).n).toBe(size);
      await svc.call('close', { port: sport });
      expect(await cli.call('wait', { port: cport })).toMatchObject({ n: 0, state: cs.CAPMS_REPLY });
      await cli.call('close', { port: cport });
    };
    await dropUnread(16, true); // warm-up: whatever a first service and client open for good
    const svcBefore = await svc.call('fds');
    const cliBefore = await cli.call('fds');
    await dropUnread(64 * MiB, true);
    await dropUnread(64 * MiB, false);
    expect(await svc.call('fds')).toBe(svcBefore);
    expect(await cli.call('fds')).toBe(cliBefore);
  }, 60000);

  test('an idiomatic service that closes with a 64 MiB request it never handed out: the memfd was held, then closed; nothing left', async () => {
    const cli = await Agent.start();
    const cycle = async (size: number) => {
      const name = unique('adrop');
      const service = await cs.caps.service(name, { access: ANY });
      const cport = await cli.call('client', { name, uid: process.geteuid!(), gid: -1, flags: ANY });
      await cli.call('put', { port: cport, size });
      if (size > cs.CAPS_MAXMSG) {
        // the request is here, in its memfd, unread
        for (const until = Date.now() + 10000; sealedFds().length === 0;) {
          if (Date.now() > until) throw new Error('the request\'s memfd never arrived');
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      await service.close();
      expect(sealedFds()).toEqual([]);
      expect(await cli.call('wait', { port: cport })).toMatchObject({ n: 0, state: cs.CAPMS_REPLY });
      await cli.call('close', { port: cport });
    };
    await cycle(16);
    const before = openFds();
    const cliBefore = await cli.call('fds');
    await cycle(64 * MiB);
    expect(openFds()).toEqual(before);
    expect(await cli.call('fds')).toBe(cliBefore);
  }, 60000);
});

test('an aborted large request, and one replied to unread after a hard abort: the service closes each memfd, never having copied it', async () => {
  const { svc, sport, cli, cport } = await pair('abort');
  const svcBefore = await svc.call('fds');
  const cliBefore = await cli.call('fds');
  const first = await cli.call('put', { port: cport, size: 64 * MiB });
  expect(await cli.call('abort', { port: cport, id: first, flags: 0 })).toBe(cs.CAPS_ABORT_BEFORESERVER);
  expect(await cli.call('wait', { port: cport })).toMatchObject({ id: first, n: 0 });
  expect(await svc.call('fds')).toBe(svcBefore);

  const second = await cli.call('put', { port: cport, size: 64 * MiB });
  const req = await svc.call('wait', { port: sport, size: 16 });
  expect(req.n).toBe(64 * MiB);
  expect(await cli.call('abort', { port: cport, id: second, flags: cs.CAPF_ABORT_HARD })).toBe(cs.CAPS_ABORT_ATSERVER);
  expect(await cli.call('get', { port: cport })).toMatchObject({ id: second, n: 0 });
  expect(await svc.call('fds')).toBe(svcBefore + 1); // the service still holds it, unread
  await svc.call('reply', { port: sport, id: req.id, text: 'late' });
  expect(await svc.call('wait', { port: sport })).toMatchObject({ id: req.id, state: cs.CAPMS_DISPOSE });
  expect(await svc.call('fds')).toBe(svcBefore);
  expect(await cli.call('fds')).toBe(cliBefore);
}, 60000);

describe('senders', () => {
  test('a sender cannot change a sealed message after sending: write and ftruncate are EPERM, the service gets the bytes as sent', async () => {
    const { path, svc, sport } = await pair('change');
    const before = openFds();
    const fd = rawClient(path);
    const data = patterned(MiB);
    const memfd = cs.sealBytes(data);
    sendSealed(fd, 1, memfd, data.length);
    expect(() => writeSync(memfd, Buffer.from('changed'), 0, 7, 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(() => ftruncateSync(memfd, 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(() => ftruncateSync(memfd, 2 * MiB)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    const req = await svc.call('wait', { port: sport, size: 2 * MiB, text: false, digest: true });
    expect(req).toMatchObject({ n: MiB, digest: sha(data) });
    closeSync(memfd);
    cs.csclose(fd);
    expect(openFds()).toEqual(before);
  }, 30000);

  test('over the ceiling is EMSGSIZE with the cs path: the sender\'s own, and the peer\'s smaller one, for requests and replies', async () => {
    // the service takes at most 1 MiB: a client with the default ceiling learns it in the handshake
    const small = await pair('ceil', { svc: { CS_CAPS_MAXMSG: String(MiB) } });
    expect(await small.cli.failure('put', { port: small.cport, size: MiB + 1 })).toMatchObject({
      code: 'EMSGSIZE', message: expect.stringContaining(small.path),
    });
    await small.cli.call('put', { port: small.cport, size: MiB });
    expect((await small.svc.call('wait', { port: small.sport, size: MiB, text: false })).n).toBe(MiB);

    // the client takes at most 256 KiB: a reply above that is refused at the service, which can still answer
    const smallCli = await pair('ceil', { cli: { CS_CAPS_MAXMSG: String(256 * KiB) } });
    await smallCli.cli.call('put', { port: smallCli.cport, text: 'q' });
    const req = await smallCli.svc.call('wait', { port: smallCli.sport });
    expect(await smallCli.svc.failure('reply', { port: smallCli.sport, id: req.id, size: 256 * KiB + 1 })).toMatchObject({ code: 'EMSGSIZE' });
    await smallCli.svc.call('reply', { port: smallCli.sport, id: req.id, size: 256 * KiB });
    expect((await smallCli.cli.call('wait', { port: smallCli.cport, size: 256 * KiB, text: false })).n).toBe(256 * KiB);

    // this process's own ceiling, from $CS_CAPS_MAXMSG when the port is made
    const name = unique('own');
    const svc = await startFixture('caps-service.js', [name]);
    JSON.parse(svc.line);
    process.env.CS_CAPS_MAXMSG = String(MiB);
    const client = await cs.caps.client(name, { uid: process.geteuid!() }).finally(() => delete process.env.CS_CAPS_MAXMSG);
    try {
      await expect(client.call(Buffer.alloc(MiB + 1))).rejects.toMatchObject({ code: 'EMSGSIZE', syscall: 'call', path: client.key && cs.capsPath(client.key) });
      expect((await client.call(Buffer.alloc(MiB, 1))).data.length).toBe(MiB);
    } finally {
      await client.close();
    }
  }, 60000);

  test('a fifth large request unanswered is ENOBUFS for caps_sys_put; the idiomatic client holds it back until a slot frees', async () => {
    const { cli, cport } = await pair('window');
    expect(await cli.call('putMany', { port: cport, count: 5, size: 200 * KiB })).toMatchObject({ error: 'ENOBUFS', at: cs.CAPS_MAXLARGE });
    expect(await cli.call('put', { port: cport, text: 'small ones still go' })).toBe(String(cs.CAPS_MAXLARGE + 1));

    const name = unique('awindow');
    const svc = await startFixture('caps-service.js', [name]);
    JSON.parse(svc.line);
    const client = await cs.caps.client(name, { uid: process.geteuid!() });
    try {
      const calls = Array.from({ length: 10 }, (_, i) => client.call(Buffer.alloc(200 * KiB, i)));
      const replies = await Promise.all(calls);
      expect(replies.map((r) => r.data.length === 200 * KiB && r.data.every((b) => b === r.data[0]) && r.data[0])).toEqual(Array.from({ length: 10 }, (_, i) => i));
    } finally {
      await client.close();
    }
  }, 60000);

  test('a version 1 service (no sealed messages): over 128 KiB is EMSGSIZE, up to 128 KiB goes as before', async () => {
    const name = unique('v1');
    const path = cs.capsPath({ name, uid: process.geteuid!(), gid: -1 });
    await startFixture('caps-deaf-service.js', [path]);
    const cli = await Agent.start();
    const cport = await cli.call('client', { name, uid: process.geteuid!(), gid: -1, flags: ANY });
    expect(await cli.failure('put', { port: cport, size: cs.CAPS_MAXMSG + 1 })).toMatchObject({ code: 'EMSGSIZE', message: expect.stringContaining('version 1') });
    expect(await cli.call('put', { port: cport, size: cs.CAPS_MAXMSG })).toBe('1');
  }, 30000);
});

describe('hostile peers', () => {
  const partlySealed = (size: number) => {
    const fd = sys.sealableMemfd('partly');
    writeSync(fd, Buffer.alloc(size, 1), 0, size, 0);
    sys.fcntl(fd, sys.F_ADD_SEALS, sys.F_SEAL_SHRINK | sys.F_SEAL_GROW | sys.F_SEAL_SEAL); // still writable
    return fd;
  };
  const unsealed = (size: number) => {
    const fd = sys.memfd('unsealed');
    writeSync(fd, Buffer.alloc(size, 1), 0, size, 0);
    return fd;
  };
  const pipeEnd = () => {
    const [r, w] = sys.pipe();
    sys.close(w);
    return r;
  };

  test('a memfd unsealed, partly sealed, of another size than announced, inline-sized, over the ceiling, not a memfd, on a version 1 connection, or a fifth unanswered: that connection closes, every fd it brought too; others are served on', async () => {
    const { path, svc, sport, cli, cport } = await pair('hostile', { svc: { CS_CAPS_MAXMSG: String(4 * MiB) } });
    const svcBefore = await svc.call('fds');
    const before = openFds();
    const cases: [string, () => number, number, number?][] = [
      ['unsealed', () => unsealed(200 * KiB), 200 * KiB],
      ['partly sealed', () => partlySealed(200 * KiB), 200 * KiB],
      ['smaller than announced', () => cs.sealBytes(Buffer.alloc(200 * KiB)), 200 * KiB + 1],
      ['larger than announced', () => cs.sealBytes(Buffer.alloc(200 * KiB)), 200 * KiB - 1],
      ['inline-sized', () => cs.sealBytes(Buffer.alloc(100 * KiB)), 100 * KiB],
      ['over the service\'s ceiling', () => cs.sealBytes(Buffer.alloc(4 * MiB + 1)), 4 * MiB + 1],
      ['a pipe', pipeEnd, 200 * KiB],
      ['on a version 1 connection', () => cs.sealBytes(Buffer.alloc(200 * KiB)), 200 * KiB, 1],
    ];
    for (const [what, make, announced, version] of cases) {
      const fd = rawClient(path, version);
      const memfd = make();
      sendSealed(fd, 1, memfd, announced);
      closeSync(memfd);
      expect([what, closedByService(fd)]).toEqual([what, true]);
      cs.csclose(fd);
    }
    // four good ones wait unread at the service; the fifth breaks the window
    const fd = rawClient(path);
    for (let id = 1; id <= cs.CAPS_MAXLARGE + 1; id++) {
      const memfd = cs.sealBytes(Buffer.alloc(200 * KiB, id));
      sendSealed(fd, id, memfd, 200 * KiB);
      closeSync(memfd);
    }
    expect(closedByService(fd)).toBe(true);
    cs.csclose(fd);
    // a sealed frame that brings no descriptor fails the header check
    const bare = rawClient(path);
    expect(sys.sendFds(bare, frame(REQUEST, 1, u64(200 * KiB), 0, SEALED), [])).toBe(HEADER_SIZE + 8);
    expect(closedByService(bare)).toBe(true);
    cs.csclose(bare);

    expect(openFds()).toEqual(before);
    expect(await svc.call('fds')).toBe(svcBefore);
    await cli.call('put', { port: cport, size: 200 * KiB, pattern: true });
    expect(await svc.call('wait', { port: sport, size: 200 * KiB, text: false, digest: true })).toMatchObject({ n: 200 * KiB, digest: sha(patterned(200 * KiB)) });
  }, 60000);
});
