// Readiness of a raw descriptor from libuv's own event loop: a uv_poll_t per watched
// descriptor, made and driven through koffi with libuv's own functions (the node
// binary exports them for addons). No threads, no busy waiting, and per event one call
// into JavaScript with two integers: koffi's ready-made poll binding builds a new
// {readable, writable, disconnect} object per event, about a tenth of the CPU of a
// request/reply client. test/watch.test.ts pins the behaviour.
import type * as Koffi from 'koffi';
import { errnoError } from './errors';
import { ffi } from './ffi';

type Callback = () => void;

const UV_POLL = 8; // uv_handle_type
const UV_READABLE = 1;
const UV_WRITABLE = 2;
const UV_DISCONNECT = 4;

type Fn = (...args: unknown[]) => number;
interface Uv {
  loop: unknown;
  size: number;
  init: Fn;
  start: Fn;
  stop: Fn;
  close: Fn;
  ref: Fn;
  unref: Fn;
  /** The registered poll callback, for uv_poll_start. */
  onPoll: unknown;
  /** The registered close callback, for uv_close. */
  onClose: unknown;
}

/** Watchers by the address of their started-or-stopped handle; handles being closed, kept alive until libuv is done with them. */
const byHandle = new Map<number, Watcher>();
const closing = new Map<number, Buffer>();
let uv: Uv | undefined;

function libuv(): Uv {
  if (uv) return uv;
  const k: typeof Koffi = ffi();
  const self = k.load(null);
  // unnamed: koffi's type names are per process, and this module may be loaded more than once
  const pollCb = k.pointer(k.proto(null, 'void', ['uintptr_t', 'int', 'int']));
  const closeCb = k.pointer(k.proto(null, 'void', ['uintptr_t']));
  const fn = (name: string, result: string, args: unknown[]) => self.func(name, result, args as never) as unknown as Fn;
  // the loop of this thread (a worker thread has its own), through the Node-API env koffi runs in
  const loop: unknown[] = [null];
  if (fn('napi_get_uv_event_loop', 'int', ['void *', k.out(k.pointer('void *'))])(k.node.env, loop) !== 0) throw new Error('napi_get_uv_event_loop failed');
  uv = {
    loop: loop[0],
    size: Number(fn('uv_handle_size', 'size_t', ['int'])(UV_POLL)),
    init: fn('uv_poll_init', 'int', ['void *', 'void *', 'int']),
    start: fn('uv_poll_start', 'int', ['void *', 'int', pollCb]),
    stop: fn('uv_poll_stop', 'int', ['void *']),
    close: fn('uv_close', 'void', ['void *', closeCb]),
    ref: fn('uv_ref', 'void', ['void *']),
    unref: fn('uv_unref', 'void', ['void *']),
    // registered once per loading of this module: every watcher shares them
    onPoll: k.register((h: number, status: number, events: number) => dispatch(Number(h), status, events), pollCb),
    onClose: k.register((h: number) => void closing.delete(Number(h)), closeCb),
  };
  return uv;
}

/**
 * Hand a poll event to its watcher. An exception must not end in koffi, which drops
 * it: it is thrown again from the event loop, an uncaught exception as from any callback.
 */
function dispatch(handle: number, status: number, events: number): void {
  try {
    byHandle.get(handle)?.fire(status, events);
  } catch (e) {
    process.nextTick(() => {
      throw e;
    });
  }
}

/** A uv_poll_t of this thread's loop: its memory, which must not move or go while libuv holds it. */
class PollHandle {
  readonly mem: Buffer;
  readonly address: number;

  constructor(fd: number, owner: Watcher) {
    const u = libuv();
    this.mem = Buffer.alloc(u.size);
    this.address = Number(ffi().address(this.mem));
    const r = u.init(u.loop, this.mem, fd);
    if (r < 0) throw errnoError(-r, 'uv_poll_init', undefined, `fd ${fd}`); // libuv's errors are -errno
    byHandle.set(this.address, owner);
  }

  start(events: number): void {
    const u = libuv();
    const r = u.start(this.mem, events, u.onPoll);
    if (r < 0) throw errnoError(-r, 'uv_poll_start');
  }

  stop(): void {
    libuv().stop(this.mem);
  }

  ref(): void {
    libuv().ref(this.mem);
  }

  unref(): void {
    libuv().unref(this.mem);
  }

  close(): void {
    byHandle.delete(this.address);
    closing.set(this.address, this.mem);
    const u = libuv();
    u.close(this.mem, u.onClose);
  }
}

/**
 * Watches one descriptor. Interest is one-shot, like a promise per wait: each
 * onReadable/onWritable callback runs once when the descriptor is ready (or in error,
 * so the caller's next system call reports the error). libuv allows one watcher per
 * descriptor: the owner of the fd must close() the watcher before closing the fd.
 */
export class Watcher {
  private handle: PollHandle | null = null;
  private readers: Callback[] = [];
  private writers: Callback[] = [];
  private events = 0; // UV_READABLE | UV_WRITABLE: what the handle is started with
  /** Started for readability with nobody waiting: kept so that the next wait costs no epoll_ctl, unreferenced meanwhile. */
  private idle = false;
  private referenced = true;
  private closed = false;

  constructor(readonly fd: number) {}

  onReadable(cb: Callback): void {
    this.readers.push(cb);
    this.update();
  }

  onWritable(cb: Callback): void {
    this.writers.push(cb);
    this.update();
  }

  /** Drop a callback that is no longer wanted (an aborted or timed-out wait). */
  cancel(cb: Callback): void {
    const r = this.readers.indexOf(cb);
    if (r >= 0) this.readers.splice(r, 1);
    const w = this.writers.indexOf(cb);
    if (w >= 0) this.writers.splice(w, 1);
    this.update();
  }

  /** Let the process exit while this watcher waits (like socket.unref()). */
  unref(): void {
    this.referenced = false;
    this.handle?.unref();
  }

  ref(): void {
    this.referenced = true;
    if (!this.idle) this.handle?.ref();
  }

  /** Stop watching for good; pending callbacks are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.readers = [];
    this.writers = [];
    this.handle?.close();
    this.handle = null;
  }

  private update(): void {
    if (this.closed) return;
    const events = (this.readers.length ? UV_READABLE : 0) | (this.writers.length ? UV_WRITABLE : 0);
    if (events === this.events) {
      if (this.idle && events !== 0) this.setIdle(false);
      return;
    }
    if (events === 0 && this.events === UV_READABLE) {
      // nobody waits to read now, and most likely someone will again soon (a reply, the
      // next request): stay started, but do not keep the process alive
      if (!this.idle) this.setIdle(true);
      return;
    }
    if (this.idle) this.setIdle(false);
    this.events = events;
    if (events === 0) {
      this.handle?.stop();
      return;
    }
    if (!this.handle) {
      this.handle = new PollHandle(this.fd, this);
      if (!this.referenced) this.handle.unref();
    }
    this.handle.start(events);
  }

  private setIdle(on: boolean): void {
    this.idle = on;
    if (this.referenced) {
      if (on) this.handle?.unref();
      else this.handle?.ref();
    }
  }

  /** libuv reports `events` (UV_READABLE | UV_WRITABLE | UV_DISCONNECT); status < 0 is a libuv error. */
  fire(status: number, events: number): void {
    if (this.idle) {
      // ready while nobody waits: stop, or the level-triggered poll would report it again and again
      this.setIdle(false); // referenced again, as a stopped handle is
      this.events = 0;
      this.handle?.stop();
      return;
    }
    const failed = status < 0 || (events & UV_DISCONNECT) !== 0;
    const readers = failed || (events & UV_READABLE) !== 0 ? this.readers : [];
    const writers = failed || (events & UV_WRITABLE) !== 0 ? this.writers : [];
    if (readers.length) this.readers = [];
    if (writers.length) this.writers = [];
    // Update interest after the callbacks: most re-arm at once, and leaving the
    // handle started spares libuv an epoll_ctl pair per wake-up.
    try {
      for (const cb of readers) cb();
      for (const cb of writers) cb();
    } finally {
      this.update();
    }
  }
}
