// What the async servers (Listener for fdp, NetListener for tcp) share once a client
// is admitted: the hand-out to a waiting accept(), to 'connection' listeners, or to
// a bounded queue until someone asks; an arrival beyond the queue is closed, never
// left open with nobody holding it.
import { EventEmitter } from 'node:events';
import { abortError, csError } from '../sys';

/** Admitted streams kept for an accept() to come. */
const MAX_QUEUED = 128;

export abstract class Arrivals<T extends { destroy(): unknown }> extends EventEmitter implements AsyncIterable<T> {
  #queue: T[] = [];
  #waiters: ((c: IteratorResult<T>) => void)[] = [];
  #ended = false;
  /** Clients accepted whose admission (rendezvous, access handshake) is under way. */
  #admitting = 0;
  #whenAdmitted: (() => void)[] = [];

  abstract readonly path: string;

  /** @param closeOnBreak leaving a `for await` loop early closes the listener (as it destroys a Node stream) */
  constructor(private readonly closeOnBreak: boolean) {
    super();
  }

  /** Hand an admitted stream out. */
  protected deliver(conn: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter({ value: conn, done: false });
    else if (this.listenerCount('connection') > 0) this.emit('connection', conn);
    else if (this.#queue.length < MAX_QUEUED) this.#queue.push(conn);
    else {
      conn.destroy();
      this.emit('clientError', csError('ECONNREFUSED', 'accept', this.path, `${MAX_QUEUED} connections already wait for accept(); closed this one`));
    }
  }

  /** Accept the next connection (undefined once the listener is closed); an aborted signal rejects the wait. */
  accept(opts: { signal?: AbortSignal } = {}): Promise<T | undefined> {
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(abortError(signal!));
      };
      const waiter = (r: IteratorResult<T>) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(r.done ? undefined : r.value);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: async () => {
        const c = await this.accept();
        return c ? { value: c, done: false } : { value: undefined, done: true };
      },
      return: async () => {
        if (this.closeOnBreak) this.close();
        return { value: undefined, done: true };
      },
    };
  }

  abstract close(): Promise<void>;

  /** Stop taking clients from the socket and give this process's copy of it up (once; close() does it too). */
  protected abstract stopListening(): void;

  /** Run one accepted client's admission, counted so that stopAccepting() can wait for it. */
  protected async admit(work: () => Promise<void>): Promise<void> {
    this.#admitting++;
    try {
      await work();
    } finally {
      if (--this.#admitting === 0) for (const resolve of this.#whenAdmitted.splice(0)) resolve();
    }
  }

  /**
   * Stop accepting, as a server being replaced does: new clients stay in the socket's
   * backlog for whoever else holds the socket; clients already accepted finish their
   * admission (each within its own deadline) and are handed out; then the listener closes.
   */
  async stopAccepting(): Promise<void> {
    this.stopListening();
    if (this.#admitting > 0) await new Promise<void>((resolve) => this.#whenAdmitted.push(resolve));
    await this.close();
  }

  /** The listener closed: queued streams are closed, waiting accept()s get undefined. */
  protected endArrivals(): void {
    this.#ended = true;
    for (const c of this.#queue.splice(0)) c.destroy();
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }
}
