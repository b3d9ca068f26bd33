// The bundled lookupd CAPS service: users, groups and hosts resolved through NSS
// and cached; started by hand, and started on demand from its launch entry; keys
// are never getent options, and a flood starts no more than a few getent processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import { MAX_RUNNING, MAX_WAITING } from '../cs-services/lookupd/nss';
import { freshRoot, killFixtures, removeRoot } from './helpers';

const SERVER = join(__dirname, '..', 'lib', 'cs', 'fdp', 'lookupd', 'server');
const euid = process.geteuid!();
let root: string;
let byHand: ChildProcess | null = null;
const clients: cs.CapsClient[] = [];

beforeEach(() => {
  root = freshRoot();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  if (byHand && byHand.exitCode === null) {
    const exited = new Promise((r) => byHand!.once('exit', r));
    byHand.kill('SIGKILL');
    await exited;
  }
  byHand = null;
  for (const pid of startedServers()) process.kill(pid, 'SIGKILL');
  await killFixtures();
  removeRoot(root);
});

/** Pids of lookupd servers cs started in this test's namespace (from their P-cs.mnt). */
function startedServers(): number[] {
  const dir = join(root, 'fdp');
  const pids: number[] = [];
  let hosts: string[] = [];
  try {
    hosts = readdirSync(dir);
  } catch {
    return pids;
  }
  for (const host of hosts) {
    let perms: string[] = [];
    try {
      perms = readdirSync(join(dir, host, 'lookupd'));
    } catch {
      continue;
    }
    for (const perm of perms) {
      try {
        const pid = Number(readlinkSync(join(dir, host, 'lookupd', perm, 'P-cs.mnt')).split('/')[2]);
        process.kill(pid, 0);
        pids.push(pid);
      } catch {
        // no record, or that server is gone
      }
    }
  }
  return pids;
}

async function ask(c: cs.CapsClient, request: string): Promise<{ ok?: any; error?: string; message?: string }> {
  return JSON.parse((await c.call(Buffer.from(request))).data.toString());
}

describe('lookupd started by hand', () => {
  let c: cs.CapsClient;
  beforeEach(async () => {
    byHand = spawn(SERVER, [cs.capsPath({ name: 'lookupd', uid: euid, gid: -1 })], { stdio: 'ignore', env: process.env });
    c = await cs.caps.client('lookupd', { uid: euid, waitService: true, signal: AbortSignal.timeout(10000) });
    clients.push(c);
  });

  test('answers users, groups and hosts by name and by number', async () => {
    const me = userInfo();
    expect((await ask(c, `getpwuid ${euid}`)).ok).toMatchObject({ name: me.username, uid: euid, dir: me.homedir });
    expect((await ask(c, `getpwnam ${me.username}`)).ok).toMatchObject({ uid: euid, gid: me.gid });
    const group = (await ask(c, `getgrgid ${me.gid}`)).ok;
    expect(group).toMatchObject({ gid: me.gid, name: expect.any(String), members: expect.any(Array) });
    expect((await ask(c, `getgrnam ${group.name}`)).ok).toMatchObject({ gid: me.gid });
    expect((await ask(c, 'gethostbyname localhost')).ok.addresses).toContain('127.0.0.1');
    expect((await ask(c, 'gethostbyaddr 127.0.0.1')).ok).toMatchObject({ name: expect.any(String), addresses: ['127.0.0.1'] });
  });

  test('a missing entry is ENOENT and a malformed request EINVAL, without harm to the service', async () => {
    expect(await ask(c, 'getpwnam no_such_user_here')).toMatchObject({ error: 'ENOENT', message: expect.stringContaining('no_such_user_here') });
    expect(await ask(c, 'getpwuid 4000000000')).toMatchObject({ error: 'ENOENT' });
    expect(await ask(c, 'getpwnam')).toMatchObject({ error: 'EINVAL' });
    expect(await ask(c, 'getpwnam a b')).toMatchObject({ error: 'EINVAL' });
    expect(await ask(c, 'getpwuid root')).toMatchObject({ error: 'EINVAL' });
    expect(await ask(c, 'rm -rf /')).toMatchObject({ error: 'EINVAL', message: expect.stringContaining('unknown request') });
    expect(await ask(c, 'x'.repeat(5000))).toMatchObject({ error: 'EINVAL' });
    expect((await ask(c, 'getpwuid 0')).ok.name).toBe('root');
  });

  test('a key that starts with - is a name to look up (not found), never a getent option', async () => {
    for (const key of ['--help', '-i', '-sfiles', '--version']) {
      expect(await ask(c, `gethostbyname ${key}`)).toMatchObject({ error: 'ENOENT', message: `no host '${key}'` });
    }
  });

  test('answers are cached: a repeated question is a hit, concurrent ones share one lookup', async () => {
    expect((await ask(c, 'stats')).ok).toEqual({ hits: 0, misses: 0, size: 0 });
    const first = await ask(c, 'getpwuid 0');
    expect(await ask(c, 'getpwuid 0')).toEqual(first);
    expect((await ask(c, 'stats')).ok).toEqual({ hits: 1, misses: 1, size: 1 });
    await Promise.all([ask(c, 'getgrgid 0'), ask(c, 'getgrgid 0'), ask(c, 'getgrgid 0')]);
    expect((await ask(c, 'stats')).ok).toEqual({ hits: 3, misses: 2, size: 2 });
    await ask(c, 'getpwnam no_such_user_here');
    await ask(c, 'getpwnam no_such_user_here');
    expect((await ask(c, 'stats')).ok).toMatchObject({ hits: 4, misses: 3 });
  });

  test('anyone may ask: the service admits every client (CAPF_ANYCLIENT)', async () => {
    const generic = await cs.caps.client('lookupd');
    clients.push(generic);
    expect(generic.key).toEqual({ name: 'lookupd', uid: euid, gid: -1 });
    expect((await ask(generic, 'getpwuid 0')).ok.uid).toBe(0);
  });
});

describe('lookupd under a flood of distinct questions', () => {
  const FLOOD = 100; // below the 128 messages one CAPS client may have in flight
  let fake: string;
  afterEach(() => rmSync(fake, { recursive: true, force: true }));

  test(`at most ${MAX_RUNNING} getent processes run; beyond ${MAX_WAITING} waiting, questions get EAGAIN`, async () => {
    // a slow getent that logs when it starts and ends, and finds nothing
    fake = mkdtempSync(join(tmpdir(), 'cs-getent-'));
    const log = join(fake, 'log');
    writeFileSync(join(fake, 'getent'), `#!/bin/sh\necho "start $$ $*" >> '${log}'\nsleep 0.5\necho "end $$" >> '${log}'\nexit 2\n`, { mode: 0o755 });
    byHand = spawn(SERVER, [cs.capsPath({ name: 'lookupd', uid: euid, gid: -1 })], { stdio: 'ignore', env: { ...process.env, PATH: `${fake}:${process.env.PATH}` } });
    const c = await cs.caps.client('lookupd', { uid: euid, waitService: true, signal: AbortSignal.timeout(10000) });
    clients.push(c);
    const replies = await Promise.all(Array.from({ length: FLOOD }, (_, i) => ask(c, `gethostbyname -flood${i}`)));
    const busy = replies.filter((r) => r.error === 'EAGAIN');
    expect(replies.filter((r) => r.error !== 'EAGAIN' && r.error !== 'ENOENT')).toEqual([]);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy[0].message).toContain(`lookupd is busy: ${MAX_RUNNING} lookups run and ${MAX_WAITING} wait`);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const starts = lines.filter((l) => l.startsWith('start '));
    expect(starts.length).toBe(FLOOD - busy.length);
    expect(starts.length).toBeLessThanOrEqual(MAX_RUNNING + MAX_WAITING);
    expect(starts.every((l) => / ahosts -- -flood[0-9]+$/.test(l))).toBe(true);
    let now = 0;
    let most = 0;
    for (const l of lines) {
      now += l.startsWith('start ') ? 1 : -1;
      most = Math.max(most, now);
    }
    expect(most).toBe(MAX_RUNNING);
    // the service is still there and answers once the flood has drained
    expect(await ask(c, 'gethostbyname -after')).toMatchObject({ error: 'ENOENT' });
  }, 60000);
});

describe('lookupd started on demand', () => {
  test('a client of a lookupd nobody runs gets one started from the launch entry', async () => {
    const conn = await cs.open(cs.capsPath({ name: 'lookupd', uid: euid, gid: -1 }));
    conn.destroy();
    const [pid] = startedServers();
    expect(pid).toEqual(expect.any(Number));
    const c = await cs.caps.client('lookupd');
    clients.push(c);
    expect((await ask(c, 'getpwuid 0')).ok.name).toBe('root');
    expect(startedServers()).toEqual([pid]);
  });

  test('the generic client starts it by itself when nothing is registered', async () => {
    const c = await cs.caps.client('lookupd');
    clients.push(c);
    expect(c.key).toEqual({ name: 'lookupd', uid: euid, gid: -1 });
    expect((await ask(c, `getpwuid ${euid}`)).ok.uid).toBe(euid);
    expect(startedServers()).toHaveLength(1);
  });
});
