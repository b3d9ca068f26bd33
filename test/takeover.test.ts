// Other users cannot take a service over: perm directories, sockets and records of
// a user who may not serve the service are refused or replaced, cs -k signals only
// a process the kernel ties to the service (and its process group), zombies are dead.
// The takeovers run real processes as two real users (root only).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMountDir, listServices, mountDir, pidAlive, recordedServer, recordPid, type MountDir } from '../src/namespace';
import * as cs from '../src';
import { parsePath } from '../src/path';
import { signalServer } from '../src/cli/kill';
import { FIXTURES, freshRoot, isRoot, killFixtures, killPids, removeRoot, runFixture, secondUser, startFixture, testIf } from './helpers';

let root: string;
let seq = 0;
let pids: number[] = [];
const name = (what: string) => `/dev/fdp/local/${what}${process.pid}x${seq++}`;
const md = (path: string): MountDir => mountDir(parsePath(path), null);
const open = async (path: string, asUser?: number) => JSON.parse((await runFixture('stream-peer.js', [path, 'open'], { asUser })).stdout);

/** Run a shell command as `uid` (setpriv, no supplementary groups). */
function shellAs(uid: number, command: string): { status: number | null; stderr: string } {
  const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', 'sh', '-c', command], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

/** A perm directory made by `uid` (as if that user ran mkdir), its parents made the cs way. */
function plantDir(m: MountDir, uid: number, mode: number): void {
  let dir = root;
  for (const part of m.dir.slice(root.length + 1).split('/').slice(0, -1)) {
    dir = join(dir, part);
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
  }
  mkdirSync(m.dir);
  chownSync(m.dir, uid, uid);
  chmodSync(m.dir, mode);
}

/** A process that must survive: `sleep`, killed after the test. */
function sacrificial(): ChildProcess {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  pids.push(child.pid!);
  return child;
}

async function until(what: string, ok: () => boolean, ms = 10000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
  }
}

/** The state letter /proc gives `pid` (Z: a zombie). */
const procState = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /su, '')[0];

beforeEach(() => {
  root = freshRoot();
  pids = [];
});
afterEach(async () => {
  killPids(pids);
  await killFixtures();
  removeRoot(root);
});

const asRoot = testIf(isRoot, 'needs root to run processes as a second user');

describe('another user\'s perm directory', () => {
  asRoot('root takes over a perm directory another user made and served from; clients reach root\'s server only', async () => {
    const attacker = secondUser();
    const path = name('pre');
    const m = md(path);
    plantDir(m, attacker, 0o755);
    await startFixture('stream-server.js', [path, 'name', 'impostor'], { asUser: attacker });
    expect(lstatSync(m.socket).uid).toBe(attacker);

    await startFixture('stream-server.js', [path, 'name', 'victim']);
    const st = lstatSync(m.dir);
    expect([st.uid, st.mode & 0o022]).toEqual([0, 0]);
    expect(lstatSync(m.socket).uid).toBe(0);
    // the attacker can no longer unlink root's socket and bind its own
    expect(shellAs(attacker, `rm -f '${m.socket}'`).status).not.toBe(0);
    expect(existsSync(m.socket)).toBe(true);
    expect(await open(path)).toEqual({ ok: true, said: 'victim' });
    expect(await open(path, attacker)).toEqual({ ok: true, said: 'victim' });
  });

  asRoot('a client never talks to a server in a perm directory of a user who may not serve it: EPERM naming both', async () => {
    const attacker = secondUser();
    const victim = secondUser('cstestv');
    const path = name('foreign');
    await startFixture('stream-server.js', [path, 'name', 'impostor'], { asUser: attacker });
    for (const client of [undefined, victim]) {
      const r = await open(path, client);
      expect(r).toMatchObject({ ok: false, code: 'EPERM' });
      expect(r.message).toContain(md(path).dir);
      expect(r.message).toContain(`uid ${attacker} (cstest)`);
    }
    expect(await open(path, attacker)).toEqual({ ok: true, said: 'impostor' });
  });

  asRoot('a socket another user bound in a world-writable directory of root\'s is refused by the kernel check', async () => {
    const attacker = secondUser();
    const path = name('planted');
    const m = md(path);
    createMountDir(m);
    chmodSync(m.dir, 0o777); // as libcs or a umask of 0 leaves it
    await startFixture('stream-server.js', [path, 'name', 'impostor'], { asUser: attacker });
    expect(lstatSync(m.socket).uid).toBe(attacker);
    const r = await open(path);
    expect(r).toMatchObject({ ok: false, code: 'EACCES', message: expect.stringContaining(`runs as uid ${attacker} (cstest)`) });
    // root serving it replaces the planted socket; then clients reach root
    await startFixture('stream-server.js', [path, 'name', 'victim']);
    expect(await open(path)).toEqual({ ok: true, said: 'victim' });
  });

  asRoot('a user service whose directory another user made: EACCES naming it and its owner; root hands it to the user', async () => {
    const attacker = secondUser();
    const victim = secondUser('cstestv');
    const path = `${name('mine')}/user=${victim}`;
    const m = md(path);
    plantDir(m, attacker, 0o755);
    const refused = await runFixture('stream-server.js', [path, 'name', 'mine'], { asUser: victim });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^error EACCES /u);
    expect(refused.stdout).toContain(m.dir);
    expect(refused.stdout).toContain(`uid ${attacker} (cstest)`);
    expect((await open(path, victim)).code).toBe('EPERM');

    createMountDir(m); // root
    const st = lstatSync(m.dir);
    expect([st.uid, st.mode & 0o7777]).toEqual([victim, 0o700]);
    await startFixture('stream-server.js', [path, 'name', 'mine'], { asUser: victim });
    expect(await open(path, victim)).toEqual({ ok: true, said: 'mine' });
  });
});

describe('cs -k signals only a process tied to the service', () => {
  asRoot('a P-cs.mnt planted in another user\'s directory is never followed', async () => {
    const attacker = secondUser();
    const path = name('kill');
    await startFixture('stream-server.js', [path, 'name', 'impostor'], { asUser: attacker });
    const victim = sacrificial();
    const link = md(path).pidLink;
    expect(shellAs(attacker, `ln -sfn /proc/${victim.pid} '${link}' && touch -h -d '1 hour' '${link}'`).status).toBe(0);
    expect(() => signalServer('KILL', path)).toThrow(expect.objectContaining({ code: 'EPERM', message: expect.stringContaining(`uid ${attacker} (cstest)`) }));
    expect(victim.exitCode).toBeNull();
    expect(pidAlive(victim.pid!)).toBe(true);
  });

  asRoot('a P-cs.mnt another user swapped into root\'s world-writable directory is not believed', async () => {
    const attacker = secondUser();
    const path = name('swap');
    const m = md(path);
    createMountDir(m);
    chmodSync(m.dir, 0o777);
    const server = await startFixture('stream-server.js', [path, 'name', 'victim']);
    const bystander = sacrificial();
    expect(shellAs(attacker, `ln -sfn /proc/${bystander.pid} '${m.pidLink}.new' && mv -fT '${m.pidLink}.new' '${m.pidLink}' && touch -h -d '1 hour' '${m.pidLink}'`).status).toBe(0);
    expect(lstatSync(m.pidLink).uid).toBe(attacker);
    expect(() => signalServer('KILL', path)).toThrow(expect.objectContaining({ code: 'ESRCH', message: expect.stringContaining(`owned by uid ${attacker} (cstest)`) }));
    expect(recordedServer(m)).toEqual({ pid: bystander.pid, alive: false });
    expect(bystander.exitCode).toBeNull();
    expect(server.child.exitCode).toBeNull();
  });
});

describe('the kernel says who is alive', () => {
  test('a zombie server counts as dead', async () => {
    // the background child exits at once and its parent, now sleep, never reaps it
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 600'], { stdio: ['ignore', 'pipe', 'ignore'] });
    pids.push(parent.pid!);
    const zombie = Number(await new Promise<string>((r) => parent.stdout!.once('data', (d) => r(String(d)))));
    await until('the child is a zombie', () => procState(zombie) === 'Z');
    expect(() => process.kill(zombie, 0)).not.toThrow(); // what the old liveness test believed
    expect(pidAlive(zombie)).toBe(false);
    const path = name('zombie');
    const m = md(path);
    createMountDir(m);
    recordPid(m, zombie);
    expect(recordedServer(m)).toEqual({ pid: zombie, alive: false });
    expect(listServices(path).map((e) => e.alive)).toEqual([false]);
  });

  test('cs -k signals the process group of a shell launch entry: its children stop too', async () => {
    const tree = mkdtempSync(join(tmpdir(), 'cs-kill-'));
    process.env.CS_PATH = tree;
    try {
      const svc = `group${process.pid}x${seq++}`;
      const entry = join(tree, 'lib', 'cs', 'fdp', svc);
      mkdirSync(entry, { recursive: true });
      const childFile = join(tree, 'child.pid');
      writeFileSync(join(entry, 'server'), `#!/bin/sh\nsleep 600 &\necho $! > '${childFile}'\nexec node '${join(FIXTURES, 'launch-server.js')}' "$@"\n`);
      chmodSync(join(entry, 'server'), 0o755);
      const path = `/dev/fdp/local/${svc}`;
      cs.csclose(cs.csopen(path)); // starts the server
      await until('the entry wrote its child pid', () => existsSync(childFile) && readFileSync(childFile, 'utf8').endsWith('\n'));
      const child = Number(readFileSync(childFile, 'utf8'));
      const { pid } = signalServer('TERM', path);
      pids.push(pid, child);
      await until('the server and the child of its launch entry are gone', () => !pidAlive(pid) && !pidAlive(child));
    } finally {
      delete process.env.CS_PATH;
      removeRoot(tree);
    }
  });
});
