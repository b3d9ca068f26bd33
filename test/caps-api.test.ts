// The C-shaped CAPS API between real processes: the seed's message life cycle,
// every error path, too-big messages, kill -9 of a busy service, generations,
// descriptors in messages, aborts, CAPF_WAITSVC, hostile peers, and memory bounds
// against peers that send without reading.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import * as sys from '../src/sys';
import { Agent } from './fixtures/caps-driver';
import { freshRoot, isRoot, testIf, killFixtures, removeRoot, secondUser, startFixture } from './helpers';

const ANY = cs.CAPF_ANYCLIENT;
let root: string;
let seq = 0;
/** A CAPS name no other test (or test run) uses. */
const unique = (what: string) => `${what}_${process.pid}_${seq++}`;

beforeEach(() => {
  root = freshRoot();
});
afterEach(async () => {
  await killFixtures();
  removeRoot(root);
});

/** A service agent registered as (name, its uid, -1) for anyone, and a client agent connected to it. */
async function pair(what: string, flags = ANY) {
  const name = unique(what);
  const svc = await Agent.start();
  const sport = await svc.call('service', { name, uid: svc.uid, gid: -1, flags });
  const cli = await Agent.start();
  const cport = await cli.call('client', { name, uid: svc.uid, gid: -1, flags: ANY });
  return { name, svc, sport, cli, cport };
}

describe('the message life cycle (the 2004 seed)', () => {
  test('REQUEST at the service with the client\'s kernel creds, REPLY at the client, then DISPOSE back at the service', async () => {
    const { svc, sport, cli, cport } = await pair('seed');
    const id = await cli.call('put', { port: cport, text: 'hello' });

    const req = await svc.call('wait', { port: sport });
    expect(req).toMatchObject({ n: 5, state: cs.CAPMS_REQUEST, text: 'hello', fds: [] });
    expect(req.cred).toEqual({ pid: cli.pid, uid: cli.uid, euid: cli.uid, gid: cli.gid, groups: expect.any(Array) });

    await svc.call('reply', { port: sport, id: req.id, text: 'world!' });
    const rep = await cli.call('wait', { port: cport });
    expect(rep).toMatchObject({ n: 6, id, state: cs.CAPMS_REPLY, text: 'world!' });
    expect(rep.cred).toMatchObject({ pid: svc.pid, uid: svc.uid, gid: svc.gid });

    const disposed = await svc.call('wait', { port: sport });
    expect(disposed).toMatchObject({ n: 0, id: req.id, state: cs.CAPMS_DISPOSE });
    expect(disposed.cred.pid).toBe(cli.pid);
    expect((await svc.failure('get', { port: sport })).code).toBe('EWOULDBLOCK');
  });

  test('one service serves many clients, each reply going to the client that asked', async () => {
    const name = unique('many');
    const svc = await Agent.start();
    const sport = await svc.call('service', { name, uid: svc.uid, gid: -1, flags: ANY });
    const clients = await Promise.all([0, 1, 2].map(() => Agent.start()));
    const ports = await Promise.all(clients.map((c) => c.call('client', { name, uid: svc.uid, gid: -1, flags: ANY })));
    await Promise.all(clients.map((c, i) => c.call('put', { port: ports[i], text: `abc${i}` })));
    const served = svc.call('waitMany', { port: sport, count: 3, reply: true });
    const replies = await Promise.all(clients.map((c, i) => c.call('wait', { port: ports[i] })));
    expect(replies.map((r) => r.text)).toEqual(['0cba', '1cba', '2cba']);
    expect((await served).map((m: { state: number }) => m.state)).toEqual([0, 0, 0]);
  });
});

describe('errors', () => {
  test('bad names, ids and flags are EINVAL or TypeError, checked before anything happens', () => {
    for (const name of ['', 'has/slash', 'x'.repeat(64), 'sp ace', 'dash-ed', '..', 'é']) {
      expect(() => cs.caps_sys_service(name, 0, 0, 0, ANY)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'caps_sys_service' }));
      expect(() => cs.caps_sys_client(name, 0, 0, 0, ANY)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(() => cs.caps_sys_service('ok', -1, -1, 0, ANY)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('both be -1') }));
    expect(() => cs.caps_sys_client('ok', -1, -1, 0, ANY)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => cs.caps_sys_service('ok', 2 ** 32, -1, 0, ANY)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('uid') }));
    expect(() => cs.caps_sys_client('ok', 0, -2, 0, ANY)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining('gid') }));
    expect(() => cs.caps_sys_service('ok', 1.5, -1, 0, ANY)).toThrow(TypeError);
    expect(() => cs.caps_sys_service(7 as never, 0, -1, 0, ANY)).toThrow(TypeError);
    expect(() => cs.caps_sys_service('ok', 0, -1, 0, 'x' as never)).toThrow(TypeError);
    for (const port of [999, -1]) {
      expect(() => cs.caps_sys_put(port, Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => cs.caps_sys_close(port)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      expect(() => cs.caps_sys_get(port, Buffer.alloc(1), cs.capsMsgid())).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });

  test('128 KiB (inline) and 128 KiB + 1 (the first sealed size) go through put and reply; over the ceiling is EMSGSIZE', async () => {
    const { svc, sport, cli, cport } = await pair('size');
    expect(await cli.failure('put', { port: cport, size: cs.CAPS_MAXLARGEMSG + 1 })).toMatchObject({ code: 'EMSGSIZE', message: expect.stringContaining(String(cs.CAPS_MAXLARGEMSG + 1)) });
    for (const size of [cs.CAPS_MAXMSG, cs.CAPS_MAXMSG + 1]) {
      await cli.call('put', { port: cport, size });
      const req = await svc.call('wait', { port: sport, text: false });
      expect(req.n).toBe(size);
      await svc.call('reply', { port: sport, id: req.id, size });
      expect((await cli.call('wait', { port: cport, text: false })).n).toBe(size);
      expect((await svc.call('wait', { port: sport })).state).toBe(cs.CAPMS_DISPOSE);
    }
  });

  test('replies to unknown, unretrieved or already replied ids are EINVAL; put on a service and reply on a client too', async () => {
    const { svc, sport, cli, cport } = await pair('msgid');
    await cli.call('put', { port: cport, text: 'one' });
    // the service numbers its requests 1, 2...: id 1 exists but was not retrieved yet
    expect(await svc.failure('reply', { port: sport, id: '1' })).toMatchObject({ code: 'EINVAL', message: expect.stringContaining('not a retrieved') });
    expect((await svc.failure('reply', { port: sport, id: '999' })).code).toBe('EINVAL');
    const req = await svc.call('wait', { port: sport });
    await svc.call('reply', { port: sport, id: req.id });
    expect((await svc.failure('reply', { port: sport, id: req.id })).code).toBe('EINVAL');
    expect((await svc.failure('put', { port: sport, text: 'x' })).code).toBe('EINVAL');
    expect((await cli.failure('reply', { port: cport, id: req.id })).code).toBe('EINVAL');
    expect((await svc.failure('getgen', { port: sport })).code).toBe('EINVAL');
  });

  test('CAPF_EXCL with a matching live service is EEXIST, wildcards included; without it the newer service takes new clients', async () => {
    const name = unique('excl');
    const a = await Agent.start();
    const b = await Agent.start();
    await a.call('service', { name, uid: a.uid, gid: a.gid, flags: ANY | cs.CAPF_EXCL });
    expect(await b.failure('service', { name, uid: a.uid, gid: a.gid, flags: ANY | cs.CAPF_EXCL })).toMatchObject({ code: 'EEXIST', message: expect.stringContaining('registered') });
    expect((await b.failure('service', { name, uid: a.uid, gid: -1, flags: ANY | cs.CAPF_EXCL })).code).toBe('EEXIST');
    const bport = await b.call('service', { name, uid: a.uid, gid: a.gid, flags: ANY });
    const cli = await Agent.start();
    const cport = await cli.call('client', { name, uid: a.uid, gid: a.gid, flags: ANY });
    await cli.call('put', { port: cport, text: 'who' });
    expect((await b.call('wait', { port: bport })).cred.pid).toBe(cli.pid);
  });

  test('a name nobody registered is ENOENT at once; so is a key that does not match', async () => {
    const name = unique('none');
    const cli = await Agent.start();
    expect(await cli.failure('client', { name, uid: cli.uid, gid: -1, flags: ANY })).toMatchObject({ code: 'ENOENT', message: expect.stringContaining(name) });
    const svc = await Agent.start();
    await svc.call('service', { name, uid: svc.uid, gid: -1, flags: ANY });
    expect((await cli.failure('client', { name, uid: svc.uid + 1, gid: -1, flags: ANY })).code).toBe('ENOENT');
    expect((await cli.failure('client', { name, uid: -1, gid: svc.gid, flags: ANY })).code).toBe('ENOENT');
  });

  testIf(isRoot, 'needs root to run a client as a second user')('USER, GROUP and WORLD are checked against the kernel credentials of another user (EACCES)', async () => {
    const other = secondUser();
    const svc = await Agent.start();
    const cli = await Agent.start({ asUser: other });
    const [userOnly, groupOnly, world] = [unique('user'), unique('group'), unique('world')];
    await svc.call('service', { name: userOnly, uid: 0, gid: -1, flags: cs.CAPF_USER | cs.CAPF_GROUP });
    await svc.call('service', { name: groupOnly, uid: -1, gid: cli.gid, flags: cs.CAPF_GROUP });
    await svc.call('service', { name: world, uid: 0, gid: -1, flags: cs.CAPF_WORLD });
    expect(await cli.failure('client', { name: userOnly, uid: 0, gid: -1, flags: ANY })).toMatchObject({ code: 'EACCES', message: expect.stringContaining('does not admit') });
    // the client must ask for a rule the service allows
    expect((await cli.failure('client', { name: groupOnly, uid: -1, gid: cli.gid, flags: cs.CAPF_USER | cs.CAPF_WORLD })).code).toBe('EACCES');
    const g = await cli.call('client', { name: groupOnly, uid: -1, gid: cli.gid, flags: cs.CAPF_GROUP });
    const w = await cli.call('client', { name: world, uid: 0, gid: -1, flags: ANY });
    expect([typeof g, typeof w]).toEqual(['number', 'number']);
    // the service's own user is admitted by USER
    const same = await Agent.start();
    expect(typeof await same.call('client', { name: userOnly, uid: 0, gid: -1, flags: cs.CAPF_USER })).toBe('number');
  });

  testIf(isRoot, 'needs root to run services as two other users')('a WORLD service of an ordinary user is reached by root and by another ordinary user', async () => {
    const owner = await Agent.start({ asUser: secondUser() });
    const name = unique('shared');
    await owner.call('service', { name, uid: owner.uid, gid: -1, flags: cs.CAPF_WORLD });
    const rootClient = await Agent.start();
    const otherClient = await Agent.start({ asUser: secondUser('cstestv') });
    expect(typeof await rootClient.call('client', { name, uid: owner.uid, gid: -1, flags: ANY })).toBe('number');
    expect(typeof await otherClient.call('client', { name, uid: owner.uid, gid: -1, flags: ANY })).toBe('number');
  });

  testIf(isRoot, 'needs root to run a service as a second user')('registering a uid or gid the process does not hold is EPERM; root may', async () => {
    const other = await Agent.start({ asUser: secondUser() });
    const name = unique('perm');
    expect(await other.failure('service', { name, uid: 0, gid: -1, flags: ANY })).toMatchObject({ code: 'EPERM', message: expect.stringContaining('uid') });
    expect((await other.failure('service', { name, uid: -1, gid: 0, flags: ANY })).code).toBe('EPERM');
    expect(typeof await other.call('service', { name, uid: other.uid, gid: other.gid, flags: ANY })).toBe('number');
    const rootAgent = await Agent.start();
    expect(typeof await rootAgent.call('service', { name: unique('perm'), uid: other.uid, gid: other.gid, flags: ANY })).toBe('number');
  });

  test('the 129th message in flight is ENOBUFS; consuming one reply frees a slot', async () => {
    const { svc, sport, cli, cport } = await pair('nobufs');
    const r = await cli.call('putMany', { port: cport, count: cs.CAPS_MAXINPROG + 1, text: 'm' });
    expect(r).toMatchObject({ error: 'ENOBUFS', at: cs.CAPS_MAXINPROG });
    await svc.call('waitMany', { port: sport, count: 1, reply: true });
    expect((await cli.failure('put', { port: cport, text: 'still full' })).code).toBe('ENOBUFS'); // replied, not consumed yet
    expect((await cli.call('wait', { port: cport })).state).toBe(cs.CAPMS_REPLY);
    expect(typeof await cli.call('put', { port: cport, text: 'fits' })).toBe('string');
  });

  test('get with nothing queued is EWOULDBLOCK on both sides', async () => {
    const { svc, sport, cli, cport } = await pair('wouldblock');
    expect((await svc.failure('get', { port: sport })).code).toBe('EWOULDBLOCK');
    expect((await cli.failure('get', { port: cport })).code).toBe('EWOULDBLOCK');
    await cli.call('put', { port: cport, text: 'now' });
    // get pulls what is readable from the socket without the event loop
    expect((await svc.call('get', { port: sport })).text).toBe('now');
  });

  test('when the service closes, messages in flight come back as empty replies, then put and get are ENOTCONN', async () => {
    const { svc, sport, cli, cport } = await pair('notconn');
    await cli.call('putMany', { port: cport, count: 3, text: 'q' });
    await svc.call('waitMany', { port: sport, count: 1 });
    await svc.call('close', { port: sport });
    const back = await cli.call('waitMany', { port: cport, count: 3 });
    expect(back.map((m: { n: number; state: number }) => [m.n, m.state])).toEqual([[0, 2], [0, 2], [0, 2]]);
    expect((await cli.failure('put', { port: cport, text: 'late' })).code).toBe('ENOTCONN');
    expect((await cli.failure('get', { port: cport })).code).toBe('ENOTCONN');
    expect((await cli.failure('wait', { port: cport })).code).toBe('ENOTCONN');
    expect((await svc.failure('get', { port: sport })).code).toBe('EINVAL');
  });
});

describe('a message larger than the buffer', () => {
  test('stays queued while its length, id and creds are returned; a bigger buffer then reads it', async () => {
    const { svc, sport, cli, cport } = await pair('toobig');
    await cli.call('put', { port: cport, size: 1000, fill: 'a' });
    await cli.call('put', { port: cport, text: 'second' });
    const peek = await svc.call('wait', { port: sport, size: 100 });
    expect(peek).toMatchObject({ n: 1000, state: cs.CAPMS_REQUEST, text: null, bufferUsed: false, cred: { pid: cli.pid } });
    const again = await svc.call('get', { port: sport, size: 999 });
    expect(again).toMatchObject({ n: 1000, id: peek.id });
    const read = await svc.call('get', { port: sport, size: 1000 });
    expect(read).toMatchObject({ n: 1000, id: peek.id, text: 'a'.repeat(1000) });
    expect((await svc.call('get', { port: sport, size: 100 })).text).toBe('second');

    // the same on the client side, for a reply
    await svc.call('reply', { port: sport, id: peek.id, size: 500, fill: 'r' });
    expect(await cli.call('wait', { port: cport, size: 10 })).toMatchObject({ n: 500, text: null, bufferUsed: false, state: cs.CAPMS_REPLY });
    expect((await cli.call('get', { port: cport, size: 500 })).text).toBe('r'.repeat(500));
  });

  test('can be replied to without being read', async () => {
    const { svc, sport, cli, cport } = await pair('unread');
    const id = await cli.call('put', { port: cport, size: 5000 });
    const peek = await svc.call('wait', { port: sport, size: 10 });
    await svc.call('reply', { port: sport, id: peek.id, text: 'skipped' });
    expect(await cli.call('wait', { port: cport })).toMatchObject({ id, text: 'skipped' });
    expect((await svc.call('wait', { port: sport })).state).toBe(cs.CAPMS_DISPOSE);
    expect((await svc.failure('get', { port: sport })).code).toBe('EWOULDBLOCK');
  });
});

describe('losing the service', () => {
  test('kill -9 with 50 requests in flight from each of 5 clients: all 250 come back empty, then put is ENOTCONN', async () => {
    const name = unique('kill');
    const svc = await Agent.start();
    const sport = await svc.call('service', { name, uid: svc.uid, gid: -1, flags: ANY });
    const clients = await Promise.all([0, 1, 2, 3, 4].map(() => Agent.start()));
    const ports = await Promise.all(clients.map((c) => c.call('client', { name, uid: svc.uid, gid: -1, flags: ANY })));
    const sent = await Promise.all(clients.map((c, i) => c.call('putMany', { port: ports[i], count: 50, text: `from ${i}` })));
    // the service retrieves 100 of them (and replies to none) before it dies
    await svc.call('waitMany', { port: sport, count: 100 });
    await svc.kill('SIGKILL');
    const back = await Promise.all(clients.map((c, i) => c.call('waitMany', { port: ports[i], count: 50 })));
    for (let i = 0; i < 5; i++) {
      expect(sent[i].ids).toHaveLength(50);
      expect(back[i].map((m: { id: string }) => m.id).sort()).toEqual([...sent[i].ids].sort());
      expect(back[i].every((m: { n: number; state: number }) => m.n === 0 && m.state === cs.CAPMS_REPLY)).toBe(true);
    }
    const next = await Promise.all(clients.map((c, i) => c.failure('put', { port: ports[i], text: 'anyone?' })));
    expect(next.map((e) => e.code)).toEqual(Array(5).fill('ENOTCONN'));
  });

  test('when the client dies, its unread requests vanish and a late reply comes back as DISPOSE', async () => {
    const { svc, sport, cli, cport } = await pair('clientdies');
    await cli.call('putMany', { port: cport, count: 3, text: 'x' });
    const first = await svc.call('wait', { port: sport });
    await cli.kill('SIGKILL');
    await svc.call('reply', { port: sport, id: first.id, text: 'too late' });
    const m = await svc.call('wait', { port: sport });
    expect(m).toMatchObject({ id: first.id, state: cs.CAPMS_DISPOSE, n: 0 });
    expect((await svc.failure('get', { port: sport })).code).toBe('EWOULDBLOCK');
  });

  test('a replied message the client never consumed comes back as DISPOSE when the client closes', async () => {
    const { svc, sport, cli, cport } = await pair('unconsumed');
    await cli.call('put', { port: cport, text: 'x' });
    const req = await svc.call('wait', { port: sport });
    await svc.call('reply', { port: sport, id: req.id, text: 'unread' });
    await cli.call('close', { port: cport });
    expect(await svc.call('wait', { port: sport })).toMatchObject({ id: req.id, state: cs.CAPMS_DISPOSE });
  });
});

describe('generations', () => {
  test('setgen on the service is seen by getgen on its clients; a restarted service has a new generation', async () => {
    const { name, svc, sport, cli, cport } = await pair('gen');
    const first = BigInt(await cli.call('getgen', { port: cport }));
    expect(first).not.toBe(0n);
    await svc.call('setgen', { port: sport, gen: '42' });
    expect(await cli.call('getgen', { port: cport })).toBe('42');
    await svc.call('setgen', { port: sport, gen: String(-(2n ** 63n)) });
    expect(await cli.call('getgen', { port: cport })).toBe(String(-(2n ** 63n)));

    await svc.kill('SIGKILL');
    const again = await Agent.start();
    await again.call('service', { name, uid: again.uid, gid: -1, flags: ANY });
    const cport2 = await cli.call('client', { name, uid: again.uid, gid: -1, flags: ANY });
    const restarted = BigInt(await cli.call('getgen', { port: cport2 }));
    expect(restarted).not.toBe(first);
    expect(restarted).toBeGreaterThan(first); // start time leads: a later start has a larger generation
  });
});

describe('descriptors in messages', () => {
  test('fds in a request and in a reply arrive and work, and neither side leaks any', async () => {
    const { svc, sport, cli, cport } = await pair('fds');
    const work = mkdtempSync(join(tmpdir(), 'cs-capsfd-'));
    const file = join(work, 'f');
    writeFileSync(file, 'file-in-request');
    const [svcBefore, cliBefore] = await Promise.all([svc.call('fds'), cli.call('fds')]);

    await cli.call('put', { port: cport, text: 'with fds', files: [file], pipes: ['pipe-in-request'] });
    const req = await svc.call('wait', { port: sport });
    expect(req.fds).toEqual(['file-in-request', 'pipe-in-request']);
    await svc.call('reply', { port: sport, id: req.id, text: 'back', pipes: ['pipe-in-reply', 'second'] });
    const rep = await cli.call('wait', { port: cport });
    expect(rep).toMatchObject({ text: 'back', fds: ['pipe-in-reply', 'second'] });
    expect((await svc.call('wait', { port: sport })).state).toBe(cs.CAPMS_DISPOSE);

    expect(await Promise.all([svc.call('fds'), cli.call('fds')])).toEqual([svcBefore, cliBefore]);
    rmSync(work, { recursive: true });
  });

  test('descriptors of messages nobody reads are closed: aborted, or sent by a client that died', async () => {
    const { svc, sport, cli, cport } = await pair('fdleak');
    const svcBefore = await svc.call('fds');
    await cli.call('put', { port: cport, text: 'a', pipes: ['x', 'y', 'z'] });
    expect(await cli.call('abort', { port: cport, id: '1', flags: 0 })).toBe(cs.CAPS_ABORT_BEFORESERVER);
    await cli.call('put', { port: cport, text: 'b', pipes: ['x'] });
    await cli.kill('SIGKILL');
    expect((await svc.failure('get', { port: sport })).code).toBe('EWOULDBLOCK');
    expect(await svc.call('fds')).toBe(svcBefore - 1); // the dead client's connection is closed too
  });

  test('a descriptor that is not open is EBADF and nothing is sent', async () => {
    const { svc, sport, cli, cport } = await pair('badfd');
    const before = await cli.call('fds');
    expect(await cli.failure('put', { port: cport, text: 'x', pipes: ['ok'], rawFds: [99999] })).toMatchObject({ code: 'EBADF', message: expect.stringContaining('99999') });
    expect(await cli.failure('put', { port: cport, text: 'x', rawFds: [-1] })).toMatchObject({ code: 'EBADF' });
    expect(await cli.call('fds')).toBe(before);
    expect((await svc.failure('get', { port: sport })).code).toBe('EWOULDBLOCK');
  });
});

describe('caps_sys_abort', () => {
  test('BEFORESERVER: the service never sees the message and the client gets an empty reply', async () => {
    const { svc, sport, cli, cport } = await pair('abort1');
    const id = await cli.call('put', { port: cport, text: 'never mind' });
    expect(await cli.call('abort', { port: cport, id, flags: 0 })).toBe(cs.CAPS_ABORT_BEFORESERVER);
    expect(await cli.call('wait', { port: cport })).toMatchObject({ id, n: 0, state: cs.CAPMS_REPLY });
    expect((await svc.failure('get', { port: sport })).code).toBe('EWOULDBLOCK');
  });

  test('ATSERVER with CAPF_ABORT_HARD: the reply comes at once and the service\'s late reply becomes a DISPOSE', async () => {
    const { svc, sport, cli, cport } = await pair('abort2');
    const id = await cli.call('put', { port: cport, text: 'slow' });
    const req = await svc.call('wait', { port: sport });
    expect(await cli.call('abort', { port: cport, id, flags: cs.CAPF_ABORT_HARD })).toBe(cs.CAPS_ABORT_ATSERVER);
    expect(await cli.call('get', { port: cport })).toMatchObject({ id, n: 0 });
    await svc.call('reply', { port: sport, id: req.id, text: 'done anyway' });
    expect(await svc.call('wait', { port: sport })).toMatchObject({ id: req.id, state: cs.CAPMS_DISPOSE });
    expect((await cli.failure('get', { port: cport })).code).toBe('EWOULDBLOCK');
  });

  test('ATSERVER without HARD: the client still gets the service\'s real reply', async () => {
    const { svc, sport, cli, cport } = await pair('abort3');
    const id = await cli.call('put', { port: cport, text: 'slow' });
    const req = await svc.call('wait', { port: sport });
    expect(await cli.call('abort', { port: cport, id, flags: 0 })).toBe(cs.CAPS_ABORT_ATSERVER);
    expect((await cli.failure('get', { port: cport })).code).toBe('EWOULDBLOCK');
    await svc.call('reply', { port: sport, id: req.id, text: 'real' });
    expect(await cli.call('wait', { port: cport })).toMatchObject({ id, text: 'real' });
  });

  test('RETURNED once replied; an id not in flight is EINVAL', async () => {
    const { svc, sport, cli, cport } = await pair('abort4');
    const id = await cli.call('put', { port: cport, text: 'quick' });
    await svc.call('waitMany', { port: sport, count: 1, reply: true });
    expect(await cli.call('abort', { port: cport, id, flags: cs.CAPF_ABORT_HARD })).toBe(cs.CAPS_ABORT_RETURNED);
    expect(await cli.call('wait', { port: cport })).toMatchObject({ id, text: 'kciuq' });
    expect((await cli.failure('abort', { port: cport, id, flags: 0 })).code).toBe('EINVAL');
  });
});

describe('finding services', () => {
  test('CAPF_WAITSVC waits for the registration (a file-system event) instead of failing', async () => {
    const name = unique('waitsvc');
    const cli = await Agent.start();
    const connecting = cli.call('client', { name, uid: cli.uid, gid: -1, flags: ANY | cs.CAPF_WAITSVC }, 20000);
    const svc = await Agent.start();
    const sport = await svc.call('service', { name, uid: svc.uid, gid: -1, flags: ANY });
    const cport = await connecting;
    await cli.call('put', { port: cport, text: 'found you' });
    expect((await svc.call('wait', { port: sport })).text).toBe('found you');
  });

  test('a wildcard finds the newest matching registration; a full key must match exactly', async () => {
    const name = unique('wild');
    const older = await Agent.start();
    await older.call('service', { name, uid: older.uid, gid: -1, flags: ANY });
    const newer = await Agent.start();
    const nport = await newer.call('service', { name, uid: newer.uid, gid: newer.gid, flags: ANY });
    const cli = await Agent.start();
    const cport = await cli.call('client', { name, uid: newer.uid, gid: -1, flags: ANY });
    await cli.call('put', { port: cport, text: 'newest?' });
    expect((await newer.call('get', { port: nport })).text).toBe('newest?');
    expect(typeof await cli.call('client', { name, uid: -1, gid: newer.gid, flags: ANY })).toBe('number');
    expect((await cli.failure('client', { name, uid: newer.uid, gid: newer.gid + 1, flags: ANY })).code).toBe('ENOENT');
  });
});

describe('hostile peers', () => {
  testIf(isRoot, 'needs root to run the squatter as a second user')('a socket in a key\'s place whose owner could not have registered the key is refused (EPERM)', async () => {
    const name = unique('squat');
    const squatter = await Agent.start({ asUser: secondUser() });
    await squatter.call('squat', { path: cs.capsPath({ name, uid: 0, gid: 0 }) });
    const cli = await Agent.start();
    expect(await cli.failure('client', { name, uid: 0, gid: 0, flags: ANY })).toMatchObject({ code: 'EPERM', message: expect.stringContaining(`uid ${squatter.uid}`) });
    expect((await cli.failure('client', { name, uid: 0, gid: -1, flags: ANY })).code).toBe('EPERM');
  });

  test('a malformed frame closes that connection only, closing every fd it brought; others are served on', async () => {
    const { name, svc, sport, cli, cport } = await pair('hostile');
    const svcBefore = await svc.call('fds');
    const path = cs.capsPath({ name, uid: svc.uid, gid: -1 });
    const bad = [
      Buffer.from([0xff, 0xff, 0xff, 0x7f, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), // a 2 GiB REQUEST before HELLO
      Buffer.from([0, 0, 0, 0, 3, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), // claims 2 fds, brings 1
      Buffer.from([0, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // unknown type
    ];
    for (const frame of bad) {
      const fd = cs.csopen(path);
      const [p0, p1] = sys.pipe();
      expect(sys.sendFds(fd, frame, [p0])).toBe(16);
      sys.close(p0);
      sys.close(p1);
      // the service answers nothing and closes: end of stream
      expect(cs.cspoll([{ fd, events: 'r' }], 5000)).toHaveLength(1);
      expect(sys.readRaw(fd, Buffer.alloc(64))).toBe(0);
      cs.csclose(fd);
    }
    expect(await svc.call('fds')).toBe(svcBefore);
    await cli.call('put', { port: cport, text: 'still here' });
    expect((await svc.call('wait', { port: sport })).text).toBe('still here');
  });
});

const MiB = 1024 * 1024;

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

describe('a service whose clients do not read', () => {
  test('31 MiB of ABORT frames and 16 clients x 128 x 128 KiB unread requests: RSS stays under the ceiling, readers are answered', async () => {
    const name = unique('flood');
    const svc = await startFixture('caps-service.js', [name]);
    const { pid, path } = JSON.parse(svc.line) as { pid: number; path: string };
    // a client that reads: every call must be answered within 5 s while the others flood
    const reader = await cs.caps.client(name, { uid: process.geteuid!() });
    try {
      const ping = async () => {
        const r = await reader.call(Buffer.from('echo:ping'), [], { signal: AbortSignal.timeout(5000) });
        expect(r.data.toString()).toBe('ping');
      };
      for (let i = 0; i < 20; i++) await ping();
      const before = rss(pid);

      // seventeen processes starting at once on a busy machine take their time
      const floods = [startFixture('caps-flood.js', [path, 'abort', String(31 * MiB)], { ms: 30000 })];
      for (let i = 0; i < 16; i++) floods.push(startFixture('caps-flood.js', [path, 'requests', '128'], { ms: 30000 }));
      const flooders = await Promise.all(floods);

      let peak = before;
      const until = Date.now() + 6000;
      while (Date.now() < until) {
        await ping();
        peak = Math.max(peak, rss(pid));
        await new Promise((r) => setTimeout(r, 20));
      }
      // the service holds at most 16 MiB of messages (README, CAPS "Memory bounds"); its payload
      // buffers are freed at the garbage collector's pace, hence the margin
      expect(peak - before).toBeLessThan(48 * MiB);
      // the floods did reach the service: ABORTs and requests of every client got past the kernel buffers
      const written = flooders.map((f) => Number(f.lines.filter((l) => /^\d+$/.test(l)).pop() ?? 0));
      expect(written[0]).toBeGreaterThan(512 * 1024);
      for (const w of written.slice(1)) expect(w).toBeGreaterThan(256 * 1024);
    } finally {
      reader.close();
    }
  }, 60000);
});

describe('a client whose service does not read', () => {
  test('put is ENOBUFS once a full window of requests waits unsent, though every reply was consumed', async () => {
    const name = unique('deaf');
    const uid = process.geteuid!();
    const deaf = await startFixture('caps-deaf-service.js', [cs.capsPath({ name, uid, gid: -1 })]);
    const cli = await Agent.start();
    const port = await cli.call('client', { name, uid, gid: -1, flags: ANY });
    let refused: Error & { code?: string } | null = null;
    let rounds = 0;
    while (rounds < 200) {
      let id: string;
      try {
        id = await cli.call('put', { port, size: cs.CAPS_MAXMSG });
      } catch (e) {
        refused = e as Error;
        break;
      }
      rounds++;
      deaf.child.stdin!.write(`reply ${id}\n`);
      expect(await cli.call('wait', { port, size: 0 })).toMatchObject({ id, state: cs.CAPMS_REPLY, n: 0 });
    }
    expect(refused).toMatchObject({ code: 'ENOBUFS', message: expect.stringContaining('not reading') });
    // 128 requests of 128 KiB, plus what the kernel's socket buffers took
    expect(rounds).toBeGreaterThanOrEqual(cs.CAPS_MAXINPROG);
    expect(rounds).toBeLessThan(cs.CAPS_MAXINPROG + 16);
  }, 60000);
});
