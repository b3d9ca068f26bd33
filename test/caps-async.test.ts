// The idiomatic CAPS API (caps.service / caps.client) and the event-loop forms of
// the C-shaped calls, against services in other processes: calls, creds, descriptors,
// AbortSignal, the 128 window, a dying service, generations, the generic lookup order.
import { closeSync, readFileSync, readSync, writeSync } from 'node:fs';
import * as cs from '../src';
import * as sys from '../src/sys';
import { Agent } from './fixtures/caps-driver';
import { freshRoot, isRoot, testIf, killFixtures, openFds, removeRoot, secondUser, startFixture, type Started } from './helpers';

let root: string;
let seq = 0;
const unique = (what: string) => `${what}_${process.pid}_${seq++}`;
const clients: cs.CapsClient[] = [];

beforeEach(() => {
  root = freshRoot();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await killFixtures();
  removeRoot(root);
});

/** Start tests/fixtures/caps-service.js for a fresh name; resolves once it is registered. */
async function service(what: string, opts: object = {}, env: NodeJS.ProcessEnv = {}) {
  const name = unique(what);
  const s = await startFixture('caps-service.js', [name, JSON.stringify(opts)], { env });
  return { name, s, info: JSON.parse(s.line) as { pid: number; path: string; gen: string } };
}

async function client(name: string, opts: cs.CapsClientOptions = { uid: process.geteuid!() }) {
  const c = await cs.caps.client(name, opts);
  clients.push(c);
  return c;
}

/** Resolve with the first line of `s` (after its ready line) that matches, bounded by `ms`. */
function line(s: Started, match: RegExp, ms = 10000): Promise<string> {
  return new Promise((resolve, reject) => {
    const found = () => s.lines.find((l) => match.test(l));
    const check = () => {
      const l = found();
      if (!l) return;
      clearTimeout(timer);
      s.child.stdout!.off('data', later);
      resolve(l);
    };
    const later = () => setImmediate(check);
    const timer = setTimeout(() => {
      s.child.stdout!.off('data', later);
      reject(new Error(`no line matching ${match} within ${ms} ms; got ${JSON.stringify(s.lines)}`));
    }, ms);
    s.child.stdout!.on('data', later);
    check();
  });
}

const text = (s: string) => Buffer.from(s);

describe('caps.client and caps.service', () => {
  test('call resolves with the reply; both sides see the other\'s kernel creds', async () => {
    const { name, info } = await service('echo');
    const c = await client(name);
    const r = await c.call(text('echo:hi there'));
    expect(r.data.toString()).toBe('hi there');
    expect(JSON.parse(JSON.stringify(r))).toMatchObject({ id: r.id, cred: { pid: info.pid } }); // no bigint in a reply
    expect(Number.isSafeInteger(r.id)).toBe(true);
    expect(r.cred).toMatchObject({ pid: info.pid, uid: process.geteuid!() });
    const cred = JSON.parse((await c.call(text('cred'))).data.toString());
    expect(cred).toMatchObject({ pid: process.pid, uid: process.geteuid!(), euid: process.geteuid!(), gid: process.getegid!() });
    expect(c.key).toEqual({ name, uid: process.geteuid!(), gid: -1 });
  });

  test('descriptors travel in a call and in its reply, and nothing leaks', async () => {
    const { name } = await service('fds');
    const c = await client(name);
    await c.call(text('echo:warm up')); // this process's own descriptors for the port exist from here on
    const before = openFds();
    const [r1, w1] = sys.pipe();
    const [r2, w2] = sys.pipe();
    writeSync(w1, 'one');
    writeSync(w2, 'two');
    closeSync(w1);
    closeSync(w2);
    const reply = await c.call(text('fds'), [r1, r2]);
    closeSync(r1);
    closeSync(r2);
    expect(reply.data.toString()).toBe('one,two');
    expect(reply.fds).toHaveLength(1);
    const b = Buffer.alloc(32);
    expect(b.toString('utf8', 0, readSync(reply.fds[0], b))).toBe('from-service');
    closeSync(reply.fds[0]);
    expect(openFds()).toEqual(before);
  });

  test('an AbortSignal rejects the call at once; the service\'s late reply comes back to it as DISPOSE', async () => {
    const { name, s } = await service('abort');
    const c = await client(name);
    const ac = new AbortController();
    const held = c.call(text('hold'), [], { signal: ac.signal });
    await c.call(text('echo:the hold has arrived')); // requests are served in order
    const reason = new Error('changed my mind');
    ac.abort(reason);
    await expect(held).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    expect((await c.call(text('release'))).data.toString()).toBe('released');
    // the late reply to 'hold' (the service's request 1) is undeliverable; 'echo' (2) and 'release' (3) were consumed
    await line(s, /^dispose 1$/);
    await line(s, /^dispose 3$/);
    await expect(c.call(text('x'), [], { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  test('hundreds of concurrent calls beyond the 128-message window all resolve, in order of their replies', async () => {
    const { name } = await service('window');
    const c = await client(name);
    const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => c.call(text(`echo:${i}`))));
    expect(replies.map((r) => r.data.toString())).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
  });

  test('a call waiting for a slot keeps copies of its data and descriptors, which the caller may reuse at once', async () => {
    const { name } = await service('backlog');
    const c = await client(name);
    await c.call(text('echo:warm up'));
    const before = openFds();
    const ac = new AbortController();
    const first = c.call(text('hold'), [], { signal: ac.signal });
    const held = Array.from({ length: cs.CAPS_MAXINPROG - 1 }, () => c.call(text('hold')));
    const [r, w] = sys.pipe();
    writeSync(w, 'copied');
    closeSync(w);
    const buf = Buffer.from('fds');
    const waiting = c.call(buf, [r]); // the window is full: this one waits
    closeSync(r);
    buf.fill(0);
    ac.abort(); // frees a slot
    await expect(first).rejects.toMatchObject({ name: 'AbortError' });
    const reply = await waiting;
    expect(reply.data.toString()).toBe('copied');
    closeSync(reply.fds[0]);
    expect((await c.call(text('release'))).data.toString()).toBe('released');
    expect((await Promise.all(held)).map((h) => h.data.toString())).toEqual(Array(cs.CAPS_MAXINPROG - 1).fill('late'));
    expect(openFds()).toEqual(before);
  });

  test('calls pending when the service is killed reject with ENOTCONN; so do later ones', async () => {
    const { name, s } = await service('dies');
    const c = await client(name);
    const pending = [c.call(text('hold')), c.call(text('hold'))];
    await c.call(text('echo:both held'));
    s.child.kill('SIGKILL');
    for (const p of pending) await expect(p).rejects.toMatchObject({ code: 'ENOTCONN' });
    await expect(c.call(text('echo:anyone?'))).rejects.toMatchObject({ code: 'ENOTCONN' });
  });

  test('client.generation follows the service; another start of the service has another generation', async () => {
    const { name, s, info } = await service('gen');
    const c = await client(name);
    expect(c.generation).toBe(BigInt(info.gen));
    await c.call(text('gen:77'));
    expect(c.generation).toBe(77n);
    s.child.kill('SIGKILL');
    await s.exited;
    const again = await startFixture('caps-service.js', [name, '{}']);
    const c2 = await client(name);
    expect(c2.generation).toBe(BigInt(JSON.parse(again.line).gen));
    expect(c2.generation).not.toBe(BigInt(info.gen));
  });

  test('waitService waits for the registration instead of failing with ENOENT', async () => {
    const name = unique('later');
    await expect(cs.caps.client(name, { uid: process.geteuid!() })).rejects.toMatchObject({ code: 'ENOENT' });
    const connecting = cs.caps.client(name, { uid: process.geteuid!(), waitService: true, signal: AbortSignal.timeout(10000) });
    await startFixture('caps-service.js', [name, '{}']);
    const c = await connecting;
    clients.push(c);
    expect((await c.call(text('echo:there you are'))).data.toString()).toBe('there you are');
    const ac = new AbortController();
    const never = cs.caps.client(unique('never'), { uid: process.geteuid!(), waitService: true, signal: ac.signal });
    ac.abort();
    await expect(never).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
  });

  test('a service with `idle` retires once its last client is gone', async () => {
    const { name, s } = await service('idle', { idle: 2000 });
    const c = await client(name);
    await c.call(text('echo:x'));
    c.close();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the service did not retire')), 10000)));
    expect(await Promise.race([s.exited, late]).finally(() => clearTimeout(timer))).toBe(0);
  });

  testIf(isRoot, 'needs root to run a client as a second user')('the service access option is enforced for another user (root only)', async () => {
    const other = await Agent.start({ asUser: secondUser() });
    const userOnly = await service('useronly');
    const open = await service('world', { access: cs.CAPF_WORLD });
    expect(await other.failure('call', { name: userOnly.name, uid: 0, text: 'echo:x' })).toMatchObject({ code: 'EACCES' });
    expect((await other.call('call', { name: open.name, uid: 0, text: 'echo:x' })).text).toBe('x');
  });
});

describe('the generic lookup order', () => {
  testIf(isRoot, 'needs root to register keys of another user and run the client as that user')('a client with no key tries (uid,-1), then (-1,gid), then (0,0)', async () => {
    const other = await Agent.start({ asUser: secondUser() });
    const name = unique('generic');
    const serve = async (uid: number, gid: number) => {
      const a = await Agent.start();
      const port = await a.call('service', { name, uid, gid, flags: cs.CAPF_ANYCLIENT });
      void a.call('waitMany', { port, count: 1000, reply: true }, 60000).catch(() => {});
      return a;
    };
    const system = await serve(0, 0);
    expect(await other.call('call', { name, text: 'abc' })).toMatchObject({ text: 'cba', pid: system.pid, key: { uid: 0, gid: 0 } });
    const group = await serve(-1, other.gid);
    expect((await other.call('call', { name, text: 'abc' })).pid).toBe(group.pid);
    const user = await serve(other.uid, -1);
    expect((await other.call('call', { name, text: 'abc' })).pid).toBe(user.pid);
  });
});

describe('event-loop forms of the C-shaped calls', () => {
  test('capsWait resolves when a reply is ready without blocking the event loop; capsAbort answers like caps_sys_abort', async () => {
    const { name } = await service('capswait');
    const port = cs.caps_sys_client(name, process.geteuid!(), -1, 0, cs.CAPF_ANYCLIENT);
    try {
      const buf = Buffer.alloc(64);
      const msgid = cs.capsMsgid();
      const held = cs.caps_sys_put(port, text('hold'));
      const ready = cs.capsWait(port);
      // 'hold' is answered only after 'release', which this callback sends: it runs only if capsWait did not block
      setImmediate(() => cs.caps_sys_put(port, text('release')));
      await ready;
      const n = cs.caps_sys_get(port, buf, msgid);
      expect([buf.toString('utf8', 0, n), msgid.c_id, msgid.c_state]).toEqual(['late', held, cs.CAPMS_REPLY]);

      const slow = cs.caps_sys_put(port, text('hold'));
      cs.caps_sys_put(port, text('echo:after hold'));
      await cs.capsWait(port);
      cs.caps_sys_get(port, buf, msgid); // 'released' (from before)
      await cs.capsWait(port);
      expect(buf.toString('utf8', 0, cs.caps_sys_get(port, buf, msgid))).toBe('after hold'); // so 'hold' is at the service
      expect(await cs.capsAbort(port, slow, cs.CAPF_ABORT_HARD)).toBe(cs.CAPS_ABORT_ATSERVER);
      await cs.capsWait(port);
      expect(cs.caps_sys_get(port, buf, msgid)).toBe(0);
      expect(msgid.c_id).toBe(slow);
      expect(() => cs.caps_sys_get(port, buf, msgid)).toThrow(expect.objectContaining({ code: 'EWOULDBLOCK' }));

      const ac = new AbortController();
      const waiting = cs.capsWait(port, { signal: ac.signal });
      const reason = new Error('stop waiting');
      ac.abort(reason);
      await expect(waiting).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    } finally {
      cs.caps_sys_close(port);
    }
    expect(() => cs.caps_sys_close(port)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  test('capsWait on a closed port rejects', async () => {
    const { name } = await service('closed');
    const port = cs.caps_sys_client(name, process.geteuid!(), -1, 0, cs.CAPF_ANYCLIENT);
    cs.caps_sys_put(port, text('hold'));
    const waiting = cs.capsWait(port);
    cs.caps_sys_close(port);
    await expect(waiting).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

test('the package root exports both API levels', () => {
  const pkg = JSON.parse(readFileSync(require.resolve('../package.json'), 'utf8'));
  const root = require(`../${pkg.main}`);
  for (const n of ['caps_sys_service', 'caps_sys_client', 'caps_sys_close', 'caps_sys_put', 'caps_sys_reply', 'caps_sys_get', 'caps_sys_wait', 'caps_sys_abort', 'caps_sys_setgen', 'caps_sys_getgen', 'capsWait', 'capsAbort']) {
    expect(typeof root[n]).toBe('function');
  }
  expect(typeof root.caps.service).toBe('function');
  expect(typeof root.caps.client).toBe('function');
  expect([root.CAPS_MAXGROUPS, root.CAPS_MAXNAMELEN, root.CAPS_MAXINPROG, root.CAPS_MAXMSG]).toEqual([16, 64, 128, 131072]);
});
