// Three real test hosts (network namespaces on a private subnet, see netns.ts): a
// client on one reaches a server on another by host name and by address, a
// `user` service admits a remote peer only with the right key and never a relay
// between them, and a service is started on the other host through
// CS_REMOTE_SHELL running `cs` there.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { csnote } from '../src/net';
import { hashPort } from '../src/port';
import { FIXTURES, testIf } from './helpers';
import { runOn, setup, startOn, teardown, unavailable, type TestNet } from './netns';

const why = unavailable();
const netTest = testIf(why === null, why ?? '');
const CLI = join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
let tn: TestNet;
let seq = 0;
const service = (what: string) => `${what}${process.pid}n${seq++}`;

beforeAll(() => {
  if (why === null) tn = setup(3);
});
afterAll(() => teardown());

/** Run net-client.js on host `i` for `path`, with extra environment; its JSON answer. */
async function client(i: number, path: string, message?: string, env: NodeJS.ProcessEnv = {}) {
  const r = await runOn(tn.hosts[i], tn.env(tn.hosts[i], env), join(FIXTURES, 'net-client.js'), message === undefined ? [path] : [path, message]);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

function serverOn(i: number, path: string, mode: string, env: NodeJS.ProcessEnv = {}) {
  return startOn(tn.hosts[i], tn.env(tn.hosts[i], env), join(FIXTURES, 'net-server.js'), [path, mode]);
}

function writeKey(config: string, secret: string): void {
  mkdirSync(join(config, 'cs'), { recursive: true, mode: 0o700 });
  writeFileSync(join(config, 'cs', 'key'), secret, { mode: 0o600 });
}

netTest('a client on one host reaches a server on another by host name and by address', async () => {
  const [a, b] = tn.hosts;
  const name = service('far');
  const s = await serverOn(1, `/dev/tcp/local/${name}`, 'echo');
  expect(s.line).toBe(`ready /dev/tcp/${b.address}/${hashPort(name)}`);
  expect(await client(0, `/dev/tcp/${b.name}/${name}`, 'by name')).toEqual({ path: `/dev/tcp/${b.address}/${hashPort(name)}`, reply: 'by name' });
  expect(await client(0, `/dev/tcp/${b.address}/${name}`, 'by address')).toEqual({ path: `/dev/tcp/${b.address}/${hashPort(name)}`, reply: 'by address' });
  // the other way round, and to a name nobody serves there
  expect(await client(1, `/dev/tcp/${a.name}/${name}`)).toMatchObject({ error: 'ECONNREFUSED' });
  expect(await client(0, `/dev/tcp/nosuchhost/${name}`)).toMatchObject({ error: 'ENOTFOUND' });
});

netTest('a remote peer is known by its address only: hid set, uid and gid -1', async () => {
  const [a] = tn.hosts;
  const name = service('who');
  await serverOn(1, `/dev/tcp/local/${name}`, 'whoami');
  const r = await client(0, `/dev/tcp/${tn.hosts[1].name}/${name}`);
  const hid = a.address.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  expect(JSON.parse(r.reply)).toMatchObject({ hid, address: a.address, uid: -1, gid: -1, pid: -1, local: false });
});

netTest('share reaches the least-loaded live host the status routines know', async () => {
  const [a, b] = tn.hosts;
  const name = service('shared');
  await serverOn(1, `/dev/tcp/local/${name}`, 'echo');
  process.env.CS_STAT_DIR = tn.statDir;
  try {
    const st = { up: 100, idle: 0, users: 1, pctusr: 5, pctsys: 5 };
    csnote(a.name, { ...st, load: 400 });
    csnote(b.name, { ...st, load: 10 });
  } finally {
    delete process.env.CS_STAT_DIR;
  }
  expect(await client(0, `/dev/tcp/share/${name}`, 'to the calm one')).toEqual({ path: `/dev/tcp/${b.address}/${hashPort(name)}`, reply: 'to the calm one' });
});

netTest('a user service refuses a remote peer without the right key and admits one with it', async () => {
  const [a, b] = tn.hosts;
  const name = service('mine');
  const secret = 'shared-home-secret-0123456789abcdef';
  writeKey(b.config, secret);
  await serverOn(1, `/dev/tcp/local/${name}/user`, 'whoami');
  const path = `/dev/tcp/${b.name}/${name}/user`;

  expect(await client(0, path)).toMatchObject({ error: 'EACCES', message: expect.stringContaining('cannot be opened (ENOENT)') });
  writeKey(join(a.config, 'wrong'), 'some-other-secret-0123456789abcdef');
  expect(await client(0, path, undefined, { XDG_CONFIG_HOME: join(a.config, 'wrong') })).toMatchObject({ error: 'EACCES', message: expect.stringContaining('refused the proof') });
  writeKey(a.config, secret);
  const r = await client(0, path);
  expect(JSON.parse(r.reply)).toMatchObject({ address: a.address, uid: 0, local: false });
});

/**
 * A keyed client on host 0 opens the `user` service `name` of host 1 through a relay
 * (net-relay.js in `mode`) on host 2; what the client answered and every byte the
 * server sent the relay.
 */
async function throughRelay(name: string, mode: 'forward' | 'impostor', message: string) {
  const secret = 'shared-home-secret-0123456789abcdef';
  writeKey(tn.hosts[0].config, secret);
  writeKey(tn.hosts[1].config, secret);
  await serverOn(1, `/dev/tcp/local/${name}/user`, 'echo');
  // the client itself reaches the server directly
  expect(await client(0, `/dev/tcp/${tn.hosts[1].name}/${name}/user`, 'direct')).toMatchObject({ reply: 'direct' });
  const port = String(hashPort(name));
  const relay = await startOn(tn.hosts[2], tn.env(tn.hosts[2]), join(FIXTURES, 'net-relay.js'), [port, tn.hosts[1].address, port, mode]);
  const reported = new Promise<{ fromServer: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the relay reported nothing in 10 s')), 10000);
    relay.child.stdout!.once('data', (d) => {
      clearTimeout(timer);
      resolve(JSON.parse(String(d).split('\n')[0]));
    });
  });
  const answer = await client(0, `/dev/tcp/${tn.hosts[2].name}/${name}/user`, message);
  return { answer, fromServer: Buffer.from((await reported).fromServer, 'hex') };
}

/** The server sent its challenge, then its refusal (EACCES), and nothing more. */
function refusedAfterChallenge(fromServer: Buffer): void {
  expect(fromServer.length).toBe(4 + 32 + 1);
  expect(fromServer[36]).toBe(13);
}

netTest('a relay forwarding a keyed client to a user service gets no admitted stream: the proof names the relay\'s address', async () => {
  const r = await throughRelay(service('relayed'), 'forward', 'through the relay');
  expect(r.answer).toMatchObject({ error: 'EACCES', message: expect.stringContaining('refused the proof') });
  // the relay's own request after the handshake was never read, let alone echoed
  refusedAfterChallenge(r.fromServer);
});

netTest('a relay that answers for a user service cannot pass off the server\'s challenge: the client wants the server\'s proof', async () => {
  const r = await throughRelay(service('impostor'), 'impostor', 'for the server only');
  expect(r.answer).toMatchObject({ error: 'EACCES', message: expect.stringContaining('did not prove it holds the key') });
  refusedAfterChallenge(r.fromServer);
});

netTest('a service listed for another host in its hosts file is started there through CS_REMOTE_SHELL running cs', async () => {
  const [, b] = tn.hosts;
  const name = service('started');
  // the launch entry, as every host would see it on a shared file system
  const entry = join(tn.dir, 'lib', 'cs', 'tcp', name);
  mkdirSync(entry, { recursive: true });
  writeFileSync(join(entry, 'server'), `#!/bin/sh\nexec "${process.execPath}" "${join(FIXTURES, 'net-server.js')}" "$1" echo\n`, { mode: 0o755 });
  writeFileSync(join(entry, 'hosts'), `${b.name}\n`);
  // `cs` on every host, and a remote shell that enters the named host's namespace like ssh would log in
  const bin = join(tn.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'cs'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
  const cases = tn.hosts.map((h) => `${h.name}) ns=${h.netns}; root=${h.root};;`).join('\n  ');
  writeFileSync(join(tn.dir, 'rsh'), [
    '#!/bin/sh',
    'host=$1; shift',
    `case "$host" in\n  ${cases}\n  *) echo "rsh: unknown host $host" >&2; exit 255;;\nesac`,
    `exec ip netns exec "$ns" env CS_MOUNT_LOCAL="$root" PATH="${bin}:$PATH" sh -c "$*"`,
    '',
  ].join('\n'), { mode: 0o755 });
  const env = tn.env(tn.hosts[0], { CS_PATH: tn.dir, CS_REMOTE_SHELL: join(tn.dir, 'rsh') });
  const r = await runOn(tn.hosts[0], env, join(FIXTURES, 'net-csopen.js'), [`/dev/tcp/${b.name}/${name}`, 'started remotely']);
  expect(JSON.parse(r.stdout)).toEqual({ path: expect.stringMatching(new RegExp(`^/dev/tcp/${b.address.replace(/\./g, '\\.')}/\\d+$`)), reply: 'started remotely' });
});
