// Interop with the real AT&T libcs: its programs (shared/peers/libcs beside the
// repository, or $CS_LIBCS_PEERS) and cs meet at the same socket for every kind of
// path, pass descriptors both ways, across users, and start each other's services.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readlinkSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as cs from '../src';
import { mountDir } from '../src/namespace';
import { closeAll } from '../src/sys';
import { parsePath } from '../src/path';
import { finish, freshRootEachTest, isRoot, killPids, openFds, removeRoot, secondUser, testIf } from './helpers';

const PEERS = process.env.CS_LIBCS_PEERS || join(__dirname, '..', '..', 'shared', 'peers', 'libcs');
const PROGRAMS = ['fdp_client', 'fdp_server', 'fdp_echo', 'fdp_ping'];
const havePeers = PROGRAMS.every((p) => existsSync(join(PEERS, p)));
const NO_PEERS = 'the libcs peers are not in ../shared/peers/libcs (or $CS_LIBCS_PEERS)';
const withPeers = testIf(havePeers, NO_PEERS);
const withPeersAsRoot = testIf(havePeers && isRoot, havePeers ? 'needs root to run libcs as a second user' : NO_PEERS);

let work: string;
let seq = 0;
/** Daemons a test started (found in P-cs.mnt), killed after it. */
let daemons: number[] = [];
const uid = process.geteuid!();
const gid = process.getegid!();

freshRootEachTest();
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'cs-libcs-'));
  chmodSync(work, 0o1777); // the other user's peer creates its files here
  daemons = [];
});

afterEach(() => {
  killPids(daemons);
  removeRoot(work);
  delete process.env.CS_PATH;
});

/** Run a libcs program, as `asUser` when given (root only); its output once it exits. */
function peer(program: string, args: string[], opts: { asUser?: number; env?: NodeJS.ProcessEnv } = {}) {
  const bin = join(PEERS, program);
  const [cmd, argv] = opts.asUser === undefined ? [bin, args] : ['setpriv', [`--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, '--clear-groups', bin, ...args]];
  const child = spawn(cmd, argv, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return { child, done: finish(child, program, 20000) };
}

/** Resolve once `child` printed `line`. */
function printed(child: ReturnType<typeof peer>['child'], line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no '${line}' within 10 s: ${out}`)), 10000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.split('\n').includes(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing '${line}': ${out}`)));
  });
}

/** The first connection to `listener`; fails as soon as the libcs client fails instead (one that is done waits in the backlog). */
async function firstClient(listener: cs.Listener, client: ReturnType<typeof peer>): Promise<cs.Connection> {
  const failed = client.done.then((r) => (r.code === 0 ? new Promise<never>(() => {}) : Promise.reject(new Error(`fdp_client exited (${r.code}) before it was served: ${r.stderr}`))));
  return (await Promise.race([listener[Symbol.asyncIterator]().next(), failed])).value as cs.Connection;
}

const name = (what: string) => `${what}${process.pid}x${seq++}`;
const mode = (file: string) => lstatSync(file).mode & 0o7777;

const plain = 0o777 & ~process.umask();
/** Every kind of path libcs names differently: the perm directory both must use, its mode and the socket's. */
const KINDS: [string, string, string, number, number][] = [
  ['plain', '', '--', plain, 0o777],
  ['user', '/user', `-${uid}-`, 0o700, 0o700],
  ['group', '/group', `--${gid}`, 0o2770, 0o770],
  ['user/group', '/user/group', `-${uid}-`, 0o700, 0o700],
  ['qualifiers, one with a value', '/a/b=1', '---a-b', plain, 0o777],
  ['trust=<uid>', '/trust=4242', '4242--', plain, 0o777],
];

describe.each(KINDS)('%s: a libcs program and cs meet at the same socket', (_kind, options, perm, dirMode, socketMode) => {
  withPeers(`libcs server, cs client sends an fd it writes through (${perm})`, async () => {
    const path = `/dev/fdp/local/${name('ls')}${options}`;
    const server = peer('fdp_server', [path]);
    await printed(server.child, 'listening');
    const md = mountDir(parsePath(path), null);
    expect(md.dir.endsWith(`/${perm}`)).toBe(true);
    expect(lstatSync(md.socket).isSocket()).toBe(true);
    expect([mode(md.dir), mode(md.socket)]).toEqual([dirMode, socketMode]);

    const file = join(work, 'out');
    const before = openFds();
    const fd = cs.csopen(path);
    const ffd = openSync(file, 'a');
    cs.cssend(fd, [ffd]);
    closeSync(ffd);
    cs.csclose(fd);
    expect(openFds()).toEqual(before);
    const r = await server.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`server: send: Csid_t hid=\\d+ pid=${process.pid} uid=${uid} gid=${gid}`));
    expect(readFileSync(file, 'utf8')).toBe('ok\n');

  });

  withPeers(`cs server, libcs client sends an fd the server writes through (${perm})`, async () => {
    const path: `/dev/fdp/${string}` = `/dev/fdp/local/${name('cs')}${options}`;
    const listener = await cs.listen(path);
    try {
      const md = mountDir(parsePath(path), null);
      expect(md.dir.endsWith(`/${perm}`)).toBe(true);
      expect([mode(md.dir), mode(md.socket)]).toEqual([dirMode, socketMode]);
      const file = join(work, 'out');
      const client = peer('fdp_client', [path, file]);
      const conn = await firstClient(listener, client);
      const { fds } = await conn.recvFds({ max: 4 });
      expect(fds).toHaveLength(1);
      writeFileSync(`/proc/self/fd/${fds[0]}`, 'from cs\n');
      closeAll(fds);
      conn.destroy();
      expect((await client.done).code).toBe(0);
      expect(readFileSync(file, 'utf8')).toBe('from cs\n');
    } finally {
      listener.close();
    }
  });
});

describe('a C-shaped cs server (synchronous csrecv) and a libcs client', () => {
  // Jest gives each test file its own copy of process.env: a child spawned without `env`
  // gets the real one, without this file's CS_MOUNT_LOCAL, and looks for the service under
  // /tmp/cs. Such a libcs client fails ENOENT and exits, and a synchronous csrecv on the
  // listener waits for a client that never comes, blocking the thread jest's timeout runs
  // on. peer() passes process.env; the poll bounds the wait so a miss fails instead of hanging.
  withPeers('csrecv accepts it (greeting, id record) and takes the fd it sends, then the server writes through it', async () => {
    const path = `/dev/fdp/local/${name('sync')}`;
    const listener = cs.csopen(path, cs.CS_OPEN_CREATE);
    const file = join(work, 'out');
    const client = peer('fdp_client', [path, file]);
    try {
      expect(cs.cspoll([{ fd: listener, events: 'r' }], 10000)).toHaveLength(1);
      const accepted = cs.csrecv(listener);
      expect(accepted.id).toMatchObject({ pid: client.child.pid, uid, gid });
      const r = cs.csrecv(accepted.fds[0]);
      expect(r).toMatchObject({ id: { pid: client.child.pid, uid, gid }, fds: [expect.any(Number)] });
      writeSync(r.fds[0], 'from a sync server\n');
      closeAll(r.fds);
      cs.csclose(accepted.fds[0]);
      expect(await client.done).toMatchObject({ code: 0, stderr: '' });
      expect(readFileSync(file, 'utf8')).toBe('from a sync server\n');
    } finally {
      cs.csclose(listener);
    }
  });
});

describe('across users (libcs as a second user)', () => {
  // A plain path promises a server of root, the caller or the .svc owner ("Who may serve a
  // service"), so another user's server is named by trust=<uid> or user=<uid>, in libcs too.
  withPeersAsRoot("a libcs server of another user (trust=<uid>, user=<uid>) is reached through the 0777 levels it made; it writes into the client's fd", async () => {
    const other = secondUser();
    for (const options of [`/trust=${other}`, `/user=${other}`]) {
      const path = `/dev/fdp/local/${name('xu')}${options}`;
      const server = peer('fdp_server', [path], { asUser: other });
      await printed(server.child, 'listening');
      const md = mountDir(parsePath(path), null);
      const shared = join(md.dir, '..');
      expect([lstatSync(shared).uid, mode(shared)]).toEqual([other, 0o777]);
      const file = join(work, `out${seq}`);
      const fd = cs.csopen(path);
      const ffd = openSync(file, 'a');
      cs.cssend(fd, [ffd]);
      closeSync(ffd);
      cs.csclose(fd);
      const r = await server.done;
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/ uid=0 gid=0/);
      expect(readFileSync(file, 'utf8')).toBe('ok\n');
    }
  });

  withPeersAsRoot('a libcs client of another user sends its fd to a cs server, plain and user=<its uid>', async () => {
    const other = secondUser();
    for (const options of ['', `/user=${other}`]) {
      const path: `/dev/fdp/${string}` = `/dev/fdp/local/${name('xc')}${options}`;
      const listener = await cs.listen(path);
      try {
        const file = join(work, `out${seq}`);
        const client = peer('fdp_client', [path, file], { asUser: other });
        const conn = await firstClient(listener, client);
        expect(conn.peer).toMatchObject({ uid: other });
        const { fds } = await conn.recvFds({ max: 4 });
        writeFileSync(`/proc/self/fd/${fds[0]}`, 'from cs\n');
        closeAll(fds);
        conn.destroy();
        expect((await client.done).code).toBe(0);
        expect(lstatSync(file).uid).toBe(other);
        expect(readFileSync(file, 'utf8')).toBe('from cs\n');
      } finally {
        listener.close();
      }
    }
  });

  withPeersAsRoot('a user=<uid> cs server refuses a libcs client of another user', async () => {
    const other = secondUser();
    const path = `/dev/fdp/local/${name('xr')}/user=0`;
    const listener = await cs.listen(path);
    try {
      const client = peer('fdp_client', [path, join(work, 'never')], { asUser: other });
      const r = await client.done;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/csopen failed/);
    } finally {
      listener.close();
    }
  });
});

describe('starting services', () => {
  let tree: string;
  beforeEach(() => {
    tree = mkdtempSync(join(tmpdir(), 'cs-libcs-tree-'));
    process.env.CS_PATH = tree;
  });
  afterEach(() => removeRoot(tree));

  function entry(svc: string, file: string, body: string): void {
    const dir = join(tree, 'lib', 'cs', 'fdp', svc);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, file), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, file), 0o755);
  }

  /** The pid P-cs.mnt records, queued to be killed after the test. */
  function daemonOf(path: string, sid: number | null): number {
    const pid = Number(readlinkSync(mountDir(parsePath(path), sid).pidLink).replace('/proc/', ''));
    daemons.push(pid);
    return pid;
  }

  withPeers('a libcs client reaches a running cs service started from a server entry', async () => {
    const svc = name('srv');
    const path = `/dev/fdp/local/${svc}`;
    entry(svc, 'server', `exec '${process.execPath}' '${join(__dirname, 'fixtures', 'launch-server.js')}' "$@"`);
    const fd = cs.csopen(path);
    cs.csclose(fd);
    daemonOf(path, null);
    const ping = await peer('fdp_ping', [path, 'hello libcs']).done;
    expect(ping.stdout).toContain('reply: hello libcs');
    expect(ping.code).toBe(0);
  });

  withPeers('a cs client auto-starts the libcs daemon fdp_echo from a .svc, and a libcs client finds it there too', async () => {
    const svc = name('echo');
    const path = `/dev/fdp/local/${svc}`;
    entry(svc, `${svc}.svc`, `exec '${join(PEERS, 'fdp_echo')}' "$@"`);
    const before = openFds();
    const fd = cs.csopen(path);
    const pid = daemonOf(path, uid);
    expect(mountDir(parsePath(path), uid).dir.endsWith(`/${uid}--`)).toBe(true);
    const msg = Buffer.from('echoed by libcs');
    expect(writeSync(fd, msg)).toBe(msg.length);
    const buf = Buffer.alloc(msg.length);
    let got = 0;
    while (got < msg.length) {
      expect(cs.cspoll([{ fd, events: 'r' }], 10000)).toHaveLength(1);
      got += readSync(fd, buf, got, msg.length - got, null);
    }
    expect(buf.toString()).toBe('echoed by libcs');
    cs.csclose(fd);
    expect(openFds()).toEqual(before);
    // libcs finds the .svc beside $PATH: with <tree>/bin on it, it names the same directory
    const ping = await peer('fdp_ping', [path, 'again'], { env: { PATH: `${join(tree, 'bin')}:${process.env.PATH}` } }).done;
    expect(ping.code).toBe(0);
    expect(ping.stdout).toContain(`connected: mount ${mountDir(parsePath(path), uid).dir}/`);
    expect(readlinkSync(mountDir(parsePath(path), uid).pidLink)).toBe(`/proc/${pid}`);
  });

  withPeers('a libcs server installed as a server entry fails with an error that says to make it a .svc', () => {
    const svc = name('wrong');
    entry(svc, 'server', `exec '${join(PEERS, 'fdp_server')}' "$@"`);
    expect(() => cs.csopen(`/dev/fdp/local/${svc}`)).toThrow(expect.objectContaining({
      code: 'ECONNRESET',
      message: expect.stringMatching(new RegExp(`must be installed as ${svc}\\.svc[^]*File exists`)),
    }));
  });
});
