// The libuv readiness binding cs relies on. koffi.node.poll is undocumented and
// its shipped typings are wrong: if its callback shape ever changes, this fails loudly.
import koffi from 'koffi';
import * as sys from '../src/sys';

test('koffi.node.poll calls back with (status, {readable, writable, disconnect})', async () => {
  const [a, b] = sys.socketpair(sys.SOCK_STREAM);
  const args = await new Promise<unknown[]>((resolve) => {
    const h = koffi.node.poll(a, { readable: true }, ((...got: unknown[]) => {
      h.close();
      resolve(got);
    }) as never);
    sys.writeRaw(b, Buffer.from('x'));
  });
  expect(args).toEqual([0, { readable: true, writable: false, disconnect: false }]);
  sys.close(a);
  sys.close(b);
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
