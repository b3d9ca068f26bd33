// Access to tcp `user`/`group` services: key files only their owner can read, the
// challenge-response a remote peer must pass (real sockets, real key files), and
// loopback peers admitted or refused by the uid the kernel gives their own socket
// (sock_diag), and never by a socket already closed.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from '../src/net';
import * as sys from '../src/sys';
import { clientAuth, serverAuth, type Rules } from '../src/net/auth';
import type { Exchange } from '../src/net/exchange';
import { driveSync } from '../src/io';
import type { NetId } from '../src/net/identity';
import { hashPort } from '../src/port';
import { AGAIN } from '../src/io';
import { freshRoot, isRoot, testIf, killFixtures, openFds, removeRoot, runFixture, secondUser, startFixture, tcpPair } from './helpers';

let dir: string;
let root: string;
const savedConfig = process.env.XDG_CONFIG_HOME;

beforeEach(() => {
  root = freshRoot();
  dir = mkdtempSync(join(tmpdir(), 'cs-keys-'));
});
afterEach(async () => {
  await killFixtures();
  removeRoot(root);
  rmSync(dir, { recursive: true, force: true });
  process.env.XDG_CONFIG_HOME = savedConfig;
});

/** A config dir holding a key file with `text` (mode 0600). */
function configWithKey(name: string, text = `${name}-secret-0123456789abcdef`): string {
  const config = join(dir, name);
  mkdirSync(join(config, 'cs'), { recursive: true, mode: 0o700 });
  writeFileSync(join(config, 'cs', 'key'), text, { mode: 0o600 });
  return config;
}

describe('key files', () => {
  test('createKeyFile makes a private random key (file 0600, dir 0700) and never replaces one', () => {
    process.env.XDG_CONFIG_HOME = join(dir, 'fresh');
    const file = net.createKeyFile();
    expect(file).toBe(join(dir, 'fresh', 'cs', 'key'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'fresh', 'cs')).mode & 0o777).toBe(0o700);
    expect(net.readKey(file, process.geteuid!()).length).toBe(64);
    expect(() => net.createKeyFile()).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  test.each([
    ['0644', /has mode 0644: group or others may read it; it must be 0600/],
    ['0640', /has mode 0640/],
    ['0604', /has mode 0604/],
  ])('a key with mode %s is refused with EACCES', (mode, message) => {
    const file = join(configWithKey('loose'), 'cs', 'key');
    chmodSync(file, parseInt(mode, 8));
    expect(() => net.readKey(file, process.geteuid!())).toThrow(expect.objectContaining({ code: 'EACCES', message: expect.stringMatching(message) }));
  });

  test('a key that is a symlink, too short, or owned by someone else is refused', () => {
    const good = join(configWithKey('real'), 'cs', 'key');
    const link = join(dir, 'link');
    symlinkSync(good, link);
    expect(() => net.readKey(link, process.geteuid!())).toThrow(expect.objectContaining({ code: 'EACCES', message: expect.stringContaining('ELOOP') }));
    const short = join(configWithKey('short', 'tiny'), 'cs', 'key');
    expect(() => net.readKey(short, process.geteuid!())).toThrow(expect.objectContaining({ code: 'EACCES', message: expect.stringContaining('at least 16') }));
    expect(() => net.readKey(good, process.geteuid!() + 1)).toThrow(expect.objectContaining({ code: 'EACCES', message: expect.stringContaining('is owned by uid') }));
  });

  testIf(isRoot, 'giving a file away needs root')('a key file given to another uid is refused to root', () => {
    const good = join(configWithKey('given'), 'cs', 'key');
    chownSync(good, 12345, 12345);
    expect(() => net.readKey(good, 0)).toThrow(expect.objectContaining({ code: 'EACCES', message: expect.stringContaining('owned by uid 12345, not 0') }));
  });

  test('a private key is read back (trailing newline dropped); 0400 is fine too', () => {
    const file = join(configWithKey('ok', 'abcdefghijklmnopqrstuvwxyz\n'), 'cs', 'key');
    expect(net.readKey(file, process.geteuid!()).toString()).toBe('abcdefghijklmnopqrstuvwxyz');
    chmodSync(file, 0o400);
    expect(net.readKey(file, process.geteuid!()).toString()).toBe('abcdefghijklmnopqrstuvwxyz');
  });
});

/** Take every descriptor this process may still open (copies of stdin); the caller closes them. */
function everyFreeFd(): number[] {
  const fds: number[] = [];
  try {
    for (;;) fds.push(sys.dup(0));
  } catch (e) {
    if ((e as sys.CsError).code !== 'EMFILE') throw e;
  }
  return fds;
}

/**
 * Run the server and client halves of the handshake against each other on a real
 * loopback tcp connection, each with its own config dir (so each reads its own key
 * file), and report how each side ended.
 */
function handshake(rules: Rules, serverConfig: string, clientConfig: string, serverOutOfFds = false): { server: NetId | string; client: string } {
  const [a, b] = tcpPair();
  const remote: NetId = { hid: 0x0ad50102, pid: -1, uid: -1, gid: -1, groups: [], address: '10.213.1.2', port: 40000, local: false };
  const sides = [
    { ex: serverAuth(a, remote, rules, '/dev/tcp/local/svc/user') as Exchange<unknown>, config: serverConfig, fd: a },
    { ex: clientAuth(b, '/dev/tcp/h/svc/user') as Exchange<unknown>, config: clientConfig, fd: b },
  ].map((s) => ({ ...s, step: undefined as ReturnType<Exchange<unknown>['next']> | undefined, end: undefined as unknown }));
  const advance = (s: (typeof sides)[0], value?: Buffer | void) => {
    process.env.XDG_CONFIG_HOME = s.config;
    // the server checks the client's proof with every descriptor of this process taken
    const filler = serverOutOfFds && s === sides[0] && value instanceof Buffer ? everyFreeFd() : [];
    try {
      s.step = s.ex.next(value);
      if (s.step.done) s.end = s.step.value ?? 'admitted';
    } catch (e) {
      s.end = (e as sys.CsError).code;
      sys.shutdown(s.fd, sys.SHUT_WR); // as the caller closing the stream would
    } finally {
      sys.closeAll(filler);
    }
  };
  for (const s of sides) advance(s);
  for (let rounds = 0; sides.some((s) => s.end === undefined); rounds++) {
    if (rounds > 100) throw new Error('handshake did not finish');
    for (const s of sides) {
      if (s.end !== undefined || !s.step || s.step.done) continue;
      let r: unknown;
      try {
        r = s.step.value.attempt();
      } catch (e) {
        s.end = (e as sys.CsError).code;
        sys.shutdown(s.fd, sys.SHUT_WR);
        continue;
      }
      if (r !== AGAIN) advance(s, r as Buffer | void);
    }
  }
  sys.close(a);
  sys.close(b);
  return { server: sides[0].end as NetId | string, client: sides[1].end as string };
}

describe('the challenge-response of a remote peer', () => {
  const me = process.geteuid!();

  test('the right key is admitted and the server learns the proven uid', () => {
    const shared = configWithKey('shared');
    const r = handshake({ uid: me, gid: null }, shared, shared);
    expect(r.client).toBe('admitted');
    expect(r.server).toMatchObject({ uid: me, address: '10.213.1.2', local: false });
  });

  test('a different key is refused with EACCES on both sides', () => {
    const r = handshake({ uid: me, gid: null }, configWithKey('server'), configWithKey('client'));
    expect(r).toEqual({ server: 'EACCES', client: 'EACCES' });
  });

  test('no key file: the client refuses to answer (EACCES) and the server sees it leave', () => {
    const r = handshake({ uid: me, gid: null }, configWithKey('server'), join(dir, 'nokey'));
    expect(r.client).toBe('EACCES');
    expect(r.server).toBe('ECONNRESET');
  });

  test('a server out of descriptors cannot read the key: both sides get EMFILE, not a refusal', () => {
    const shared = configWithKey('shared');
    expect(handshake({ uid: me, gid: null }, shared, shared, true)).toEqual({ server: 'EMFILE', client: 'EMFILE' });
  });

  test('the right key for a uid the service does not admit is refused', () => {
    const shared = configWithKey('shared');
    expect(handshake({ uid: me + 1, gid: null }, shared, shared)).toEqual({ server: 'EACCES', client: 'EACCES' });
  });

  test('group services admit members proving their own key, and no one else', () => {
    const shared = configWithKey('shared');
    const primary = Number(require('node:child_process').execFileSync('id', ['-g'], { encoding: 'utf8' }));
    expect(handshake({ uid: null, gid: primary }, shared, shared).client).toBe('admitted');
    expect(handshake({ uid: null, gid: 4242424 }, shared, shared)).toEqual({ server: 'EACCES', client: 'EACCES' });
  });

  test('a server that admits without proving the key back is refused by the client (EACCES)', () => {
    process.env.XDG_CONFIG_HOME = configWithKey('client');
    const [a, b] = tcpPair();
    // challenge, then "admitted" with 32 bytes that are not the server's proof
    sys.writeRaw(a, Buffer.concat([Buffer.from('CS\x02\x01', 'latin1'), randomBytes(32), Buffer.of(0), randomBytes(32)]));
    expect(() => driveSync(clientAuth(b, '/dev/tcp/h/svc/user'), b, 2000, 'csopen')).toThrow(expect.objectContaining({ code: 'EACCES', message: expect.stringContaining('did not prove it holds the key') }));
    sys.close(a);
    sys.close(b);
  });

  test('a server of another handshake version is EPROTO naming both versions', () => {
    const [a, b] = tcpPair();
    sys.writeRaw(a, Buffer.from('CS\x01\x01', 'latin1'));
    expect(() => driveSync(clientAuth(b, '/dev/tcp/h/svc/user'), b, 2000, 'csopen')).toThrow(expect.objectContaining({ code: 'EPROTO', message: expect.stringContaining('version 1, this client 2') }));
    sys.close(a);
    sys.close(b);
  });

  test('a server that does not speak the handshake is EPROTO, not a hang', () => {
    const [a, b] = tcpPair();
    sys.writeRaw(a, Buffer.from('HTTP/1.0 200 OK\r\n'));
    const ex = clientAuth(b, '/dev/tcp/h/svc/user');
    const step = ex.next().value as { attempt: () => unknown };
    const head = step.attempt() as Buffer;
    expect(() => ex.next(head)).toThrow(expect.objectContaining({ code: 'EPROTO' }));
    sys.close(a);
    sys.close(b);
  });
});

/** A service name whose hashed tcp port is free now. */
async function freePortName(what: string): Promise<string> {
  for (let i = 0; ; i++) {
    const name = `${what}${process.pid}k${i}`;
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(hashPort(name), () => s.close(() => resolve(true)));
    });
    if (free) return name;
  }
}

describe('user and group services over loopback: the kernel uid decides', () => {
  test('the owner is admitted without any key; the stream then carries bytes', async () => {
    const path = `/dev/tcp/local/${await freePortName('mine')}/user`;
    await startFixture('net-server.js', [path, 'echo'], { env: { XDG_CONFIG_HOME: join(dir, 'none') } });
    const before = openFds();
    const r = await runFixture('net-client.js', [path, 'owner ok'], { env: { XDG_CONFIG_HOME: join(dir, 'none') } });
    expect(JSON.parse(r.stdout)).toMatchObject({ reply: 'owner ok' });
    expect(openFds()).toEqual(before);
  });

  testIf(isRoot, 'a second user needs root')('another local user is refused with EACCES even holding the owner\'s key', async () => {
    const uid = secondUser();
    // the same secret on both sides: a key would prove it, but a local peer is judged by its kernel uid alone
    const secret = 'one-secret-for-both-0123456789';
    const serverKeys = configWithKey('server', secret);
    const keys = configWithKey('client', secret);
    chmodSync(dir, 0o755);
    for (const f of [join(keys, 'cs', 'key'), join(keys, 'cs'), keys]) chownSync(f, uid, uid);
    const path = `/dev/tcp/local/${await freePortName('root')}/user=0`;
    const s = await startFixture('net-server.js', [path, 'echo'], { env: { XDG_CONFIG_HOME: serverKeys } });
    const r = await runFixture('net-client.js', [path, 'let me in'], { asUser: uid, env: { XDG_CONFIG_HOME: keys } });
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'EACCES', message: expect.stringContaining('refused') });
    expect(s.child.exitCode).toBe(null);
  });

  test('group=<gid>: a member is admitted', async () => {
    const path = `/dev/tcp/local/${await freePortName('grp')}/group=${process.getegid!()}`;
    await startFixture('net-server.js', [path, 'echo']);
    const r = await runFixture('net-client.js', [path, 'member']);
    expect(JSON.parse(r.stdout)).toMatchObject({ reply: 'member' });
  });

  testIf(isRoot, 'a non-member needs a second user, which needs root')('group=<gid>: a local non-member is refused', async () => {
    const path = `/dev/tcp/local/${await freePortName('grp')}/group=0`;
    await startFixture('net-server.js', [path, 'echo']);
    const r = await runFixture('net-client.js', [path, 'stranger'], { asUser: secondUser() });
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'EACCES' });
  });
});

// A peer that connects, writes and closes while the server is stopped is accepted
// only after its socket is closed: the kernel then shows it as an orphan or
// time-wait socket (owned by nobody, listed with uid 0), never as its user's.
describe('a local peer gone before the server accepts', () => {
  const rootTest = testIf(isRoot, 'a second user needs root');
  const CONNECTIONS = 50;

  /** Start a `log` server of root for `path`, stop it, let a second user hit it, resume it; the lines it printed. */
  async function hitWhileStopped(path: string): Promise<Record<string, unknown>[]> {
    const s = await startFixture('net-server.js', [path, 'log']);
    const port = s.line.split('/').pop()!;
    process.kill(s.child.pid!, 'SIGSTOP');
    try {
      const r = await runFixture('net-hit.js', ['127.0.0.1', port, String(CONNECTIONS)], { asUser: secondUser(), ms: 20000 });
      expect(r.stdout.trim()).toBe(`done ${CONNECTIONS}`);
    } finally {
      process.kill(s.child.pid!, 'SIGCONT');
    }
    const deadline = Date.now() + 20000;
    while (s.lines.length < CONNECTIONS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(s.lines.length).toBe(CONNECTIONS);
    return s.lines.map((l) => JSON.parse(l));
  }

  rootTest(`a plain service never reports such a peer as uid 0 (${CONNECTIONS} connections)`, async () => {
    const seen = await hitWhileStopped(`/dev/tcp/local/${await freePortName('gone')}`);
    expect(seen.filter((id) => id.uid !== -1)).toEqual([]);
    expect(seen.every((id) => id.local === true && id.address === '127.0.0.1')).toBe(true);
  });

  rootTest(`a user service of root never admits such a peer (${CONNECTIONS} connections)`, async () => {
    const seen = await hitWhileStopped(`/dev/tcp/local/${await freePortName('goneu')}/user=0`);
    expect(seen.filter((line) => line.refused === undefined)).toEqual([]);
    expect(seen.filter((line) => !String(line.message).includes('local peer uid -1 is not admitted'))).toEqual([]);
  });
});
