// The `/#arg` of an fdp path reaches the server with the rendezvous: serve()'s
// Connection.args, serveLoop's connect(fd, id, args), csrecv's args. The wire stays
// libcs's: a libcs server never gets one (the client refuses to open it with an
// argument), tcp/udp paths with an argument are refused.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as cs from '../src';
import { close, memfd } from '../src/sys';
import { FIXTURES, finish, freshRootEachTest, openFds, runFixture, testIf } from './helpers';

const PEERS = process.env.CS_LIBCS_PEERS || join(__dirname, '..', '..', 'shared', 'peers', 'libcs');
const havePeers = existsSync(join(PEERS, 'fdp_server'));
let seq = 0;
const name = (what: string): `/dev/fdp/${string}` => `/dev/fdp/local/${what}${process.pid}a${seq++}`;

freshRootEachTest();

/** Everything a connection sends until it ends. */
async function readAll(conn: cs.Connection): Promise<string> {
  let got = '';
  for await (const chunk of conn) got += chunk;
  return got;
}

test('serve(): each connection has its client\'s argument, split at /#, null without one; clients in other processes too', async () => {
  const path = name('serve');
  const server = await cs.serve(path, (conn) => void conn.end(JSON.stringify(conn.args)));
  try {
    expect(await readAll(await cs.open(`${path}/#a b/#c`))).toBe('["a b","c"]');
    expect(await readAll(await cs.open(path))).toBe('null');
    expect(await readAll(await cs.open(`${path}/#`))).toBe('[""]');
    const child = await runFixture('net-csopen.js', [`${path}/#from/#csopen`, '']);
    expect(JSON.parse(child.stdout)).toEqual({ path: `${path}/#from/#csopen`, reply: '["from","csopen"]' });
  } finally {
    await server.close();
  }
});

test('serveLoop(): connect(fd, id, args) gets the argument', async () => {
  const path = name('loop');
  const seen: (string[] | null)[] = [];
  const loop = await cs.serveLoop(path, {
    connect: (fd, _id, args) => {
      seen.push(args);
      loop.send(fd, `${JSON.stringify(args)}\n`);
    },
    read: () => -1,
  });
  try {
    const conn = await cs.open(`${path}/#x/#y z`);
    const [line] = await once(conn, 'data');
    expect(String(line)).toBe('["x","y z"]\n');
    expect(seen).toEqual([['x', 'y z']]);
    conn.destroy();
  } finally {
    loop.stop();
  }
});

test('csrecv on a listening stream returns the argument; the file that carried it is closed', async () => {
  const path = name('recv');
  const lfd = cs.csopen(path, cs.CS_OPEN_CREATE);
  try {
    const client = spawn(process.execPath, [join(FIXTURES, 'net-csopen.js'), `${path}/#c-arg`, ''], { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = finish(client, 'net-csopen.js', 10000);
    const before = openFds();
    const r = cs.csrecv(lfd);
    expect(r.args).toEqual(['c-arg']);
    cs.csclose(r.fds[0]);
    expect(openFds()).toEqual(before);
    await done;
  } finally {
    cs.csclose(lfd);
  }
});

test('a client that attaches a pipe (or two descriptors) instead of its argument file is refused (EPROTO, EMSGSIZE); nothing waits on it, nothing leaks', async () => {
  const path = name('hostile');
  const before = openFds();
  const listener = await cs.listen(path);
  const errors: string[] = [];
  listener.on('clientError', (e) => errors.push(e.code));
  for (const n of ['1', '2']) {
    const refused = once(listener, 'clientError');
    await runFixture('stream-peer.js', [path, 'arg-fds', n]);
    await refused;
  }
  expect(errors).toEqual(['EPROTO', 'EMSGSIZE']);
  await listener.close();
  expect(openFds()).toEqual(before);
});

test('a tcp or udp path with an argument is refused with EINVAL naming it', async () => {
  expect(() => cs.csopen('/dev/tcp/local/7/#arg')).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining("'/#arg'") }));
  await expect(cs.open('/dev/udp/local/7/#arg')).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining("'/#arg'") });
});

/** Resolve once a libcs fdp_server printed that it listens. */
function listening(server: ReturnType<typeof spawn>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (d) => String(d).includes('listening') && resolve());
    server.once('exit', (code) => reject(new Error(`fdp_server exited ${code}`)));
  });
}

testIf(havePeers, 'the libcs peers are not in ../shared/peers/libcs (or $CS_LIBCS_PEERS)')('a libcs server takes no argument: a cs client with one gets EOPNOTSUPP, one without still connects', async () => {
  const path = name('libcs');
  const server = spawn(join(PEERS, 'fdp_server'), [path], { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = finish(server, 'fdp_server', 20000);
  await listening(server);
  expect(() => cs.csopen(`${path}/#no`)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP', message: expect.stringContaining("'/#no'") }));
  server.kill();
  await done;
  // without the argument the same client reaches a libcs server
  const other = name('libcs');
  const again = spawn(join(PEERS, 'fdp_server'), [other], { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const served = finish(again, 'fdp_server', 20000);
  await listening(again);
  const fd = cs.csopen(other);
  const out = memfd('out');
  cs.cssend(fd, [out]);
  cs.csclose(fd);
  expect((await served).stdout).toContain('server: send: Csid_t');
  expect(readFileSync(`/proc/self/fd/${out}`, 'utf8')).toBe('ok\n');
  close(out);
});
