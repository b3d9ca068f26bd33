// serveLoop, the libcs server loop, in a real server process: connect/read/write/
// timeout/done callbacks, refusing clients, wakeups, signals and idle retirement.
import { existsSync, readFileSync, readSync, watch, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as cs from '../src';
import { mountDir } from '../src/namespace';
import { parsePath } from '../src/path';
import { freshRoot, killFixtures, removeRoot, startFixture, type Started } from './helpers';

let root: string;
let seq = 0;
const name = () => `/dev/fdp/local/loop${process.pid}x${seq++}`;

beforeEach(() => {
  root = freshRoot();
});
afterEach(async () => {
  await killFixtures();
  removeRoot(root);
});

/** Read from `fd` until `n` bytes or a newline-terminated line (n = 0) arrived, or end of stream. */
function receive(fd: number, n = 0): string {
  const buf = Buffer.alloc(65536);
  let text = '';
  let bytes = 0;
  for (;;) {
    if (cs.cspoll([{ fd, events: 'r' }], 10000).length === 0) throw new Error('nothing arrived within 10 s');
    const got = readSync(fd, buf, 0, n ? Math.min(buf.length, n - bytes) : 1, null);
    if (got === 0) return text;
    bytes += got;
    text += buf.toString('utf8', 0, got);
    if (n ? bytes >= n : text.endsWith('\n')) return text;
  }
}

/** The server's exit code (null: killed by a signal), waiting at most `ms`. */
async function exitCode(server: Started, ms = 10000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`server still running after ${ms} ms`)), ms)));
  try {
    return await Promise.race([server.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolve once `file` holds exactly `text` (inotify through fs.watch), bounded. */
function fileSays(file: string, text: string, ms = 10000): Promise<void> {
  return new Promise((resolve, reject) => {
    const says = () => existsSync(file) && readFileSync(file, 'utf8') === text;
    const w = watch(root, () => says() && finish());
    const timer = setTimeout(() => finish(new Error(`${file} does not say ${JSON.stringify(text)} after ${ms} ms`)), ms);
    const finish = (e?: Error) => {
      clearTimeout(timer);
      w.close();
      if (e) reject(e);
      else resolve();
    };
    if (says()) finish();
  });
}

const ask = (fd: number, line: string) => {
  writeSync(fd, `${line}\n`);
  return receive(fd).trim();
};

test('connect gets the client kernel identity, read serves each request line, -1 from read closes the client', async () => {
  const path = name();
  await startFixture('launch-loop.js', [path]);
  const fd = cs.csopen(path);
  expect(JSON.parse(ask(fd, 'who'))).toEqual({ pid: process.pid, uid: process.geteuid!(), gid: process.getegid!() });
  expect(ask(fd, 'upper hello there')).toBe('HELLO THERE');
  writeSync(fd, 'quit\n');
  expect(receive(fd)).toBe(''); // end of stream: the server closed it
  cs.csclose(fd);
});

test('the write handler runs while write interest is set, so a reply larger than the socket buffer arrives whole', async () => {
  const path = name();
  await startFixture('launch-loop.js', [path]);
  const fd = cs.csopen(path);
  const size = 4 * 1024 * 1024;
  writeSync(fd, `big ${size}\n`);
  expect(receive(fd, size)).toBe('x'.repeat(size));
  expect(ask(fd, 'upper still serving')).toBe('STILL SERVING');
  cs.csclose(fd);
});

test('a connect handler returning -1 refuses the client: it sees end of stream at once', async () => {
  const path = name();
  await startFixture('launch-loop.js', [path, 'refuse']);
  const fd = cs.csopen(path);
  expect(receive(fd)).toBe('');
  cs.csclose(fd);
});

test('wakeup calls timeout periodically; timeout returning -1 stops the server, which calls done(0) and exits clean', async () => {
  const path = name();
  const done = join(root, 'done');
  const server = await startFixture('launch-loop.js', [path, 'wakeup'], { env: { CS_TEST_DONE: done } });
  expect(await exitCode(server)).toBe(0);
  expect(readFileSync(done, 'utf8')).toBe('tick 1\ntick 2\ntick 3\ndone 0\n');
  const md = mountDir(parsePath(path), null);
  expect(existsSync(md.socket)).toBe(false);
  expect(existsSync(md.pidLink)).toBe(false);
});

test('SIGTERM calls done with the signal number; done returning 0 keeps the server serving, the next SIGTERM stops it', async () => {
  const path = name();
  const done = join(root, 'done');
  const server = await startFixture('launch-loop.js', [path, 'stubborn'], { env: { CS_TEST_DONE: done } });
  const fd = cs.csopen(path);
  expect(ask(fd, 'upper one')).toBe('ONE');
  server.child.kill('SIGTERM');
  await fileSays(done, 'done 15\n');
  expect(ask(fd, 'upper two')).toBe('TWO');
  server.child.kill('SIGTERM');
  expect(receive(fd)).toBe(''); // the server closed its clients
  cs.csclose(fd);
  expect(await exitCode(server)).toBe(null); // died of the signal, as an uncaught SIGTERM would
  expect(readFileSync(done, 'utf8')).toBe('done 15\ndone 15\n');
  const md = mountDir(parsePath(path), null);
  expect(existsSync(md.socket)).toBe(false);
  expect(existsSync(md.pidLink)).toBe(false);
});

test('an idle serveLoop server retires after $CS_IDLE_MS: done(0), records removed, process gone', async () => {
  const path = name();
  const done = join(root, 'done');
  const server = await startFixture('launch-loop.js', [path], { env: { CS_TEST_DONE: done, CS_IDLE_MS: '200' } });
  const fd = cs.csopen(path);
  expect(ask(fd, 'upper busy')).toBe('BUSY');
  cs.csclose(fd);
  expect(await exitCode(server)).toBe(0);
  expect(readFileSync(done, 'utf8')).toBe('done 0\n');
  expect(existsSync(mountDir(parsePath(path), null).socket)).toBe(false);
});

test('serveLoop needs a connect or a read handler', async () => {
  await expect(cs.serveLoop(name(), {})).rejects.toThrow(/a connect or read handler must be supplied/);
});
