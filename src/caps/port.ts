// What service and client ports share: the queue get/wait read from, the
// too-big-stays-queued rule, waiters for the event loop, and the per-process
// table that names ports by small integers.
import { abortError, closeAll, csError, POLLIN, POLLOUT } from '../sys';
import type { CapsCred, CapsMsgid } from './constants';
import { keyPath, typeError, type CapsKey } from './key';
import { bytesInto, bytesOf, ceiling } from './large';
import type { Link } from './link';
import { lengthOf, MsgQueue, type Queued } from './queue';

/** A descriptor to poll(2) and what to do when it is ready. */
export interface PollTarget {
  fd: number;
  events: number;
  ready(revents: number): void;
}

/** poll(2) for a link: readable while it may read, writable while output waits; null when neither. */
export function linkTarget(link: Link): PollTarget | null {
  const events = (link.readable ? POLLIN : 0) | (link.pending ? POLLOUT : 0);
  if (events === 0) return null;
  return {
    fd: link.fd,
    events,
    ready: (revents) => {
      if (revents & POLLOUT) link.flush();
      if (revents & ~POLLOUT) link.readAvailable();
    },
  };
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

export abstract class Port {
  protected readonly queue = new MsgQueue<Queued>();
  #waiters: Waiter[] = [];
  #subscribers = new Set<() => void>();
  #holds = 0;
  #closed = false;
  readonly path: string;
  /** The largest message this port accepts and sends ($CS_CAPS_MAXMSG when it was made). */
  readonly ceiling = ceiling();

  constructor(readonly id: number, readonly key: CapsKey) {
    this.path = keyPath(key);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The descriptors that can bring this port messages, for poll(2). */
  abstract pollTargets(): PollTarget[];
  /** Milliseconds after which poll(2) must return though no target is ready (a paused accept); 0: none. */
  retryIn(): number {
    return 0;
  }
  /** Send whatever output is queued, without blocking. */
  abstract flush(): void;
  /** caps_sys_setgen. */
  abstract setgen(gen: bigint): void;
  /** No message can come any more (a client whose service is gone). */
  protected abstract get disconnected(): boolean;
  /** Event-loop delivery is wanted (true) or no longer (false). */
  protected abstract wantReads(on: boolean): void;
  /** get/wait has reported this message's id. */
  protected abstract peeked(m: Queued): void;
  /** The message left the queue for its reader. */
  protected abstract dequeued(m: Queued): void;

  /**
   * The next message into `buf` (caps_sys_get's core): its length, or null when none is
   * queued. A message larger than `buf` stays queued; its length, id and creds are still reported.
   */
  take(buf: Uint8Array, msgid: CapsMsgid, cred: CapsCred | undefined, syscall: string): number | null {
    const m = this.queue.first();
    if (!m) return null;
    msgid.c_id = m.id;
    msgid.c_state = m.state;
    if (cred) {
      cred.pid = m.cred.pid;
      cred.uid = m.cred.uid;
      cred.euid = m.cred.euid;
      cred.gid = m.cred.gid;
      cred.groups = [...m.cred.groups];
    }
    this.peeked(m);
    const length = lengthOf(m);
    if (length > buf.length) {
      msgid.fds = [];
      return length;
    }
    this.queue.shift();
    try {
      if (m.sealed) {
        const s = m.sealed;
        m.sealed = undefined;
        bytesInto(s, buf, syscall, this.path);
      } else buf.set(m.data);
    } catch (e) {
      closeAll(m.fds);
      this.dequeued(m);
      throw e;
    }
    msgid.fds = m.fds;
    this.dequeued(m);
    return length;
  }

  /** The bytes of a message next() handed out, read from its memfd the first time (once only: the memfd is closed then). */
  load(m: Queued, syscall: string): Buffer {
    if (m.sealed) {
      const s = m.sealed;
      m.sealed = undefined;
      m.data = bytesOf(s, syscall, this.path);
    }
    return m.data;
  }

  /** The next message whatever its size (the async layer's take), or null. */
  next(): Queued | null {
    const m = this.queue.first();
    if (!m) return null;
    this.peeked(m);
    this.queue.shift();
    this.dequeued(m);
    return m;
  }

  /** ENOTCONN once the queue is empty and nothing more can come. */
  checkAlive(syscall: string): void {
    if (this.disconnected && !this.queue.first()) throw csError('ENOTCONN', syscall, this.path, 'the service is gone');
  }

  /** A message is ready, or the port will never have one (so get would not say EWOULDBLOCK). */
  protected ready(): boolean {
    return this.queue.first() !== undefined || this.disconnected;
  }

  /** Resolve when ready() holds; rejects if the port is closed meanwhile. */
  whenReady(signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(csError('EINVAL', 'capsWait', this.path, 'the port is closed'));
    if (this.ready()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        this.#removeWaiter(w);
        reject(abortError(signal!));
      };
      if (signal?.aborted) return reject(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(w);
      this.hold(+1);
    });
  }

  #removeWaiter(w: Waiter): void {
    const i = this.#waiters.indexOf(w);
    if (i < 0) return;
    this.#waiters.splice(i, 1);
    this.hold(-1);
  }

  /** Count someone who needs the event loop to read this port (a waiter, a pending abort). */
  hold(delta: 1 | -1): void {
    const before = this.#holds;
    this.#holds += delta;
    if (before === 0 || this.#holds === 0) this.wantReads(this.#holds > 0);
  }

  /**
   * Call `fn` (synchronously, from the event loop) each time messages may be ready,
   * until the returned function is called: the idiomatic layer's way to drain the
   * queue without a promise per wake-up.
   */
  subscribe(fn: () => void): () => void {
    if (!this.#subscribers.has(fn)) {
      this.#subscribers.add(fn);
      this.hold(+1);
    }
    return () => this.unsubscribe(fn);
  }

  /** Stop calling `fn` (as the function subscribe returned does). */
  unsubscribe(fn: () => void): void {
    if (this.#subscribers.delete(fn)) this.hold(-1);
  }

  /** Something arrived: wake the event-loop waiters if a message is now ready. */
  protected notify(): void {
    if (!this.ready()) return;
    for (const fn of this.#subscribers) fn();
    if (this.#waiters.length === 0) return;
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) {
      this.hold(-1);
      w.resolve();
    }
  }

  /** Mark the port closed and fail its waiters; subclasses release their resources. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.queue.clear();
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w.reject(csError('EINVAL', 'capsWait', this.path, 'the port was closed'));
  }
}

const ports = new Map<number, Port>();

/** Enter a port in the table under the lowest free number (from 1). */
export function addPort<P extends Port>(make: (id: number) => P): P {
  let id = 1;
  while (ports.has(id)) id++;
  const p = make(id);
  ports.set(id, p);
  return p;
}

export function removePort(p: Port): void {
  if (ports.get(p.id) === p) ports.delete(p.id);
}

/** The open port numbered `id`; EINVAL when there is none (as the kernel answers). */
export function getPort(id: unknown, syscall: string): Port {
  if (typeof id !== 'number' || !Number.isInteger(id)) throw typeError('port', 'an integer', id);
  const p = ports.get(id);
  if (!p) throw csError('EINVAL', syscall, undefined, `no CAPS port ${id} in this process`);
  return p;
}
