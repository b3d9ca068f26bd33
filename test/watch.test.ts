// Readiness from libuv's own uv_poll, driven through koffi (src/sys/watch.ts), and
// the system-call layer's errors.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as sys from '../src/sys';

const SYS = join(__dirname, '..', 'dist', 'src', 'sys');

test('a readiness callback that throws is an uncaught exception of the process, not lost in the FFI', () => {
  const script = `
    const sys = require(${JSON.stringify(SYS)});
    const [a, b] = sys.socketpair(sys.SOCK_STREAM | sys.SOCK_NONBLOCK);
    process.on('uncaughtException', (e) => { console.log('uncaught: ' + e.message); process.exit(0); });
    new sys.Watcher(b).onReadable(() => { throw new Error('boom'); });
    sys.writeRaw(a, Buffer.from('x'));
    setTimeout(() => { console.log('lost'); process.exit(1); }, 5000);`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: process.env, timeout: 20_000 });
  expect(r.stdout.trim()).toBe('uncaught: boom');
  expect(r.status).toBe(0);
});

describe('Watcher', () => {
  test('runs a readable callback once, when data arrives, and writable ones at once', async () => {
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    const w = new sys.Watcher(a);
    const events: string[] = [];
    await new Promise<void>((resolve) => w.onWritable(() => {
      events.push('w');
      resolve();
    }));
    const readable = new Promise<void>((resolve) => w.onReadable(() => {
      events.push('r');
      resolve();
    }));
    setTimeout(() => sys.writeRaw(b, Buffer.from('x')), 10);
    await readable;
    await new Promise((r) => setTimeout(r, 20)); // a second notification would land here
    expect(events).toEqual(['w', 'r']);
    w.close();
    sys.close(a);
    sys.close(b);
  });

  test('a cancelled callback never runs; a closed watcher drops its callbacks', async () => {
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    const w = new sys.Watcher(a);
    const ran: string[] = [];
    const cb = () => ran.push('cancelled');
    w.onReadable(cb);
    w.cancel(cb);
    const kept = new Promise<void>((resolve) => w.onReadable(() => {
      ran.push('kept');
      resolve();
    }));
    sys.writeRaw(b, Buffer.from('x'));
    await kept;
    w.onReadable(() => ran.push('after close'));
    w.close();
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toEqual(['kept']);
    sys.close(a);
    sys.close(b);
  });

  test('a peer hanging up wakes a reader so its next call sees end of stream', async () => {
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    const w = new sys.Watcher(a);
    const woke = new Promise<void>((resolve) => w.onReadable(resolve));
    sys.close(b);
    await woke;
    expect(sys.readRaw(a, Buffer.alloc(4))).toBe(0);
    w.close();
    sys.close(a);
  });
});

describe('errors and descriptors', () => {
  test('system errors look like Node\'s own', () => {
    const e = sys.errnoError(2, 'connect', '/dev/fdp/local/x');
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'connect', path: '/dev/fdp/local/x' });
    expect(e.message).toBe("ENOENT: no such file or directory, connect '/dev/fdp/local/x'");
  });

  test('a receiver with room for fewer fds than sent gets MSG_CTRUNC and only what fit; the kernel closes the rest', () => {
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    const sent = [sys.memfd('1'), sys.memfd('2'), sys.memfd('3')];
    expect(sys.sendFds(a, Buffer.from('hi'), sent)).toBe(2);
    const r = sys.recvFds(b, Buffer.alloc(8), 1);
    expect(r).toMatchObject({ n: 2, truncated: true });
    expect(r.fds).toHaveLength(1);
    expect(sys.fcntl(r.fds[0], sys.F_GETFD) & sys.FD_CLOEXEC).toBe(sys.FD_CLOEXEC);
    sys.closeAll([...r.fds, ...sent, a, b]);
  });

  test('sending to a closed peer is EPIPE, not a SIGPIPE that kills the process', () => {
    const [a, b] = sys.socketpair(sys.SOCK_STREAM);
    sys.close(b);
    expect(sys.sendFds(a, Buffer.from('x'), [])).toBe(-32);
    sys.close(a);
  });
});
