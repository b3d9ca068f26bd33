// Readiness of a raw descriptor from libuv's own event loop, through koffi's
// (undocumented) uv_poll binding: no threads, no busy waiting. test/watch.test.ts
// pins the callback shape, which differs from koffi's shipped typings.
import { ffi } from './ffi';

type PollHandle = { start(opts: object, cb: Function): void; stop(): void; close(): void; ref(): void; unref(): void };
type Callback = () => void;

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
  private events = 0; // 1 readable, 2 writable: what the handle is started with
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
    const events = (this.readers.length ? 1 : 0) | (this.writers.length ? 2 : 0);
    if (events === this.events) {
      if (this.idle && events !== 0) this.setIdle(false);
      return;
    }
    if (events === 0 && this.events === 1) {
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
    const opts = { readable: (events & 1) !== 0, writable: (events & 2) !== 0 };
    if (this.handle) {
      this.handle.start(opts, this.fire);
    } else {
      this.handle = ffi().node.poll(this.fd, opts, this.fire as never) as unknown as PollHandle;
      if (!this.referenced) this.handle.unref();
    }
  }

  private setIdle(on: boolean): void {
    this.idle = on;
    if (this.referenced) {
      if (on) this.handle?.unref();
      else this.handle?.ref();
    }
  }

  // koffi calls (status, {readable, writable, disconnect}); status < 0 is a libuv error.
  private fire = (status: number, ev: { readable: boolean; writable: boolean; disconnect: boolean }): void => {
    if (this.idle) {
      // ready while nobody waits: stop, or the level-triggered poll would report it again and again
      this.setIdle(false); // referenced again, as a stopped handle is
      this.events = 0;
      this.handle?.stop();
      return;
    }
    const failed = status < 0 || ev.disconnect;
    const readers = failed || ev.readable ? this.readers : [];
    const writers = failed || ev.writable ? this.writers : [];
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
  };
}
