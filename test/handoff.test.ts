// Node sockets handed between unrelated processes: a front accepts TCP connections
// and hands each, by cs path, to worker processes that answer HTTP on them with a
// plain http.Server; a listening socket handed over is served by the receiver; the
// sender keeps no descriptor of what it handed over.
import * as net from 'node:net';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import * as cs from '../src';
import * as sys from '../src/sys';
import { freshRootEachTest, openFds, runFixture, startFixture } from './helpers';

let seq = 0;
const name = (what: string): `/dev/fdp/${string}` => `/dev/fdp/local/${what}${process.pid}x${seq++}`;

freshRootEachTest();

/** A plain net.Server listening on a loopback port; pauseOnConnect so nothing here reads. */
async function tcpServer(onSocket?: (s: net.Socket) => void): Promise<[net.Server, number]> {
  const server = net.createServer({ pauseOnConnect: true }, onSocket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return [server, (server.address() as net.AddressInfo).port];
}

/** Bodies of `n` HTTP requests made by a separate client process, one connection each. */
async function httpGets(port: number, n: number): Promise<string[]> {
  const r = await runFixture('handoff-client.js', [String(port), String(n)], { ms: 20000 });
  if (r.code !== 0) throw new Error(`client failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('a front hands each accepted TCP connection to one of three http.Server workers and keeps no descriptor', async () => {
  const paths = [name('w'), name('w'), name('w')];
  const workers = await Promise.all(paths.map((p) => startFixture('handoff-worker.js', [p, 'sockets'])));
  const before = openFds(); // after the workers' stdio pipes
  const conns = await Promise.all(paths.map((p) => cs.open(p)));
  let next = 0;
  const handed: Promise<void>[] = [];
  const [front, port] = await tcpServer((s) => handed.push(cs.sendSocket(conns[next++ % conns.length], s)));

  const bodies = await httpGets(port, 9);
  await Promise.all(handed);
  expect(bodies).toEqual(bodies.map((_, i) => `200 ${workers[i % 3].line.split(' ')[1]} /r${i}`));
  // what is open now: the listening socket and the three cs connections, no accepted socket
  expect(openFds().length).toBe(before.length + 4);

  front.close();
  conns.forEach((c) => c.destroy());
  expect(openFds()).toEqual(before);
}, 40000);

test('a listening socket handed to another process is served there by an http.Server', async () => {
  const path = name('l');
  const worker = await startFixture('handoff-worker.js', [path, 'server']);
  const before = openFds();
  const [server, port] = await tcpServer();
  const conn = await cs.open(path);
  await cs.sendSocket(conn, server);
  expect(server.listening).toBe(false);
  await once(worker.child.stdout!, 'data');
  expect(await httpGets(port, 2)).toEqual([`200 ${worker.line.split(' ')[1]} /r0`, `200 ${worker.line.split(' ')[1]} /r1`]);
  conn.destroy();
  expect(openFds()).toEqual(before);
}, 30000);

test('sendSocket refuses a socket this process reads from, and leaves it open', async () => {
  const path = name('r');
  await startFixture('handoff-worker.js', [path, 'sockets']);
  const conn = await cs.open(path);
  const [server, port] = await tcpServer();
  server.on('connection', (s) => s.resume()); // reading: bytes would be lost to the receiver
  const client = net.connect(port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [net.Socket];
  accepted.resume();
  await expect(cs.sendSocket(conn, accepted)).rejects.toMatchObject({ code: 'EINVAL', syscall: 'sendSocket' });
  expect(accepted.destroyed).toBe(false);
  client.destroy();
  accepted.destroy();
  server.close();
  conn.destroy();
});

test('adoptSocket and adoptServer refuse what Node could not serve, leaving the fd to the caller', async () => {
  const file = openSync('/etc/hostname', 'r');
  expect(() => cs.adoptSocket(file)).toThrow(expect.objectContaining({ code: 'ENOTSOCK' }));
  closeSync(file);
  const l = sys.socket(sys.AF_INET, sys.SOCK_STREAM);
  sys.bind(l, sys.inetAddr('127.0.0.1', 0));
  sys.listen(l, 1);
  expect(() => cs.adoptSocket(l)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'adoptSocket' }));
  const u = sys.socket(sys.AF_INET, sys.SOCK_DGRAM);
  await expect(cs.adoptServer(u, net.createServer())).rejects.toMatchObject({ code: 'EPROTOTYPE' });
  sys.close(u);
  sys.close(l); // still ours: the refusals closed nothing
});

test('examples/http-handoff.js: three workers answer the requests their front handed them, in turn', async () => {
  const r = await runFixture('../../examples/http-handoff.js', [], { ms: 30000 });
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.stdout.trim().split('\n').map((l) => l.replace(/ \(pid \d+\)/, ''))).toEqual(
    [0, 1, 2, 3, 4, 5].map((i) => `worker ${i % 3} answers /request${i}`),
  );
}, 40000);
