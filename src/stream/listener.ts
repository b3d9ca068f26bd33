// The async API's server: accepts connections on a service's listening stream,
// runs each rendezvous without blocking, and hands out Connections with their
// kernel-verified .peer, as an EventEmitter and as an async iterable.
import { EventEmitter } from 'node:events';
import { accept, close, Watcher, SOCK_NONBLOCK } from '../sys';
import { removeRecords, type MountDir } from '../namespace';
import { greet, tryFinishAccept } from './listen';
import { Connection } from './connection';
import { forget } from './registry';
import { abortError, handshakeTimeout, runAsync } from '../io';

export class Listener extends EventEmitter implements AsyncIterable<Connection> {
  #watcher: Watcher;
  #closed = false;
  #queue: Connection[] = [];
  #waiters: ((c: IteratorResult<Connection>) => void)[] = [];

  /** Takes ownership of `fd`, a non-blocking listening stream for `path`. */
  constructor(readonly fd: number, readonly path: string, readonly md?: MountDir) {
    super();
    this.#watcher = new Watcher(fd);
    this.#arm();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #arm(): void {
    if (!this.#closed) this.#watcher.onReadable(() => this.#acceptAll());
  }

  #acceptAll(): void {
    if (this.#closed) return;
    for (;;) {
      let fd: number;
      try {
        fd = accept(this.fd, SOCK_NONBLOCK);
      } catch (e) {
        this.emit('clientError', e);
        break; // EMFILE and the like: try again at the next readiness
      }
      if (fd < 0) break;
      this.#handshake(fd);
    }
    this.#arm();
  }

  async #handshake(fd: number): Promise<void> {
    const watcher = new Watcher(fd);
    try {
      const id = greet(fd, this.md, this.path);
      await runAsync(watcher, 'r', () => tryFinishAccept(fd, id, this.path), { ms: handshakeTimeout(), what: 'accept', path: this.path });
      if (this.#closed) throw new Error('listener closed');
      this.#deliver(new Connection(fd, this.path, watcher, id));
    } catch (e) {
      watcher.close();
      close(fd);
      if (this.listenerCount('clientError') > 0) this.emit('clientError', e);
    }
  }

  #deliver(conn: Connection): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: conn, done: false });
    else if (this.listenerCount('connection') > 0) this.emit('connection', conn);
    else this.#queue.push(conn);
  }

  /** Accept the next connection (undefined once the listener is closed); an aborted signal rejects the wait. */
  accept(opts: { signal?: AbortSignal } = {}): Promise<Connection | undefined> {
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(abortError(signal!));
      };
      const waiter = (r: IteratorResult<Connection>) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(r.done ? undefined : r.value);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<Connection> {
    return {
      next: async () => {
        const c = await this.accept();
        return c ? { value: c, done: false } : { value: undefined, done: true };
      },
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  unref(): this {
    this.#watcher.unref();
    return this;
  }

  ref(): this {
    this.#watcher.ref();
    return this;
  }

  /** Stop listening; removes S-cs.mnt and P-cs.mnt when this process is the recorded server. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close();
    forget(this.fd);
    if (this.md) removeRecords(this.md);
    close(this.fd);
    for (const c of this.#queue.splice(0)) c.destroy();
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
    this.emit('close');
  }
}
