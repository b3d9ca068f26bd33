// serveLoop(): the libcs server loop in C shape. Handlers get raw stream descriptors
// and are called as things happen: a client connected, a stream is readable or
// writable, the timeout or wakeup interval passed, the server is done. Replies
// queued with send()/sendRecord() go out as each client reads, never waiting on one.
// It runs on serve(), so it takes a handed-over socket, retires when idle and cleans up alike.
import { constants } from 'node:os';
import { close, closeAll, csError, dup, Watcher } from '../sys';
import type { CsId } from '../stream/flags';
import type { Connection } from '../stream/connection';
import type { NetSocket } from '../net/socket-stream';
import { recordMessage } from '../stream/record';
import { forget, remember } from '../stream/registry';
import { Outbox, OutputTotal } from './outbox';
import { serve, serverLog, type Server, type ServeOptions } from './serve';

/**
 * The callbacks of serveLoop, after libcs's csserve(handle, path, init, done, con, rd, wr, to).
 * A handler that returns a negative number (libcs's -1) closes the client it was called for.
 */
export interface ServeLoopHandlers {
  /** The server is listening (libcs `init`). */
  init?(server: ServeLoop): void;
  /**
   * A client completed the rendezvous on `fd`, a non-blocking stream the loop owns; `args` is its
   * path's `/#` argument split at `/#` (libcs's args), else null. Negative: refuse it (the loop closes it).
   */
  connect?(fd: number, id: CsId, args: string[] | null): number | void;
  /** `fd` is readable: data, a cssend record, or end of stream (read returns 0: return -1 then). */
  read?(fd: number): number | void;
  /** `fd` is writable and write interest was set with server.watch(fd, 'w' | 'rw'). */
  write?(fd: number): number | void;
  /** The timeout (no event for that long) or the wakeup interval passed. Negative: stop the server. */
  timeout?(): number | void;
  /** The server stops: `sig` is 0, or the number of the SIGTERM/SIGINT that arrived; then returning 0 keeps it running. */
  done?(sig: number): number | void;
}

/** Which readiness of a client the loop waits for: libcs's CS_POLL_READ/CS_POLL_WRITE. */
export type Interest = '' | 'r' | 'w' | 'rw';

interface Client {
  fd: number;
  watcher: Watcher;
  interest: Interest;
  out: Outbox;
  /** A queued send failed: the client is closed as soon as no handler runs for it. */
  failed: boolean;
  waitingRead: boolean;
  waitingWrite: boolean;
  onReadable: () => void;
  onWritable: () => void;
  release: () => void;
}

const isNegative = (r: unknown): boolean => typeof r === 'number' && r < 0;

/** The loop serveLoop runs: its clients, timers and the Server underneath. */
export class ServeLoop {
  #clients = new Map<number, Client>();
  #output = new OutputTotal();
  #timeoutMs = 0;
  #wakeupMs = 0;
  #timer: NodeJS.Timeout | null = null;
  #doneCalled = false;
  #server!: Server;

  private constructor(private readonly handlers: ServeLoopHandlers) {}

  /** serveLoop() itself: see below. */
  static async start(path: string, handlers: ServeLoopHandlers, opts: ServeOptions): Promise<ServeLoop> {
    const loop = new ServeLoop(handlers);
    loop.#server = await serve(path, (conn) => loop.#adopt(conn), {
      ...opts,
      onSignal: (signal) => opts.onSignal?.(signal) !== false && loop.#interrupted(signal),
    });
    void loop.#server.whenClosed.then(() => loop.#finish());
    handlers.init?.(loop);
    return loop;
  }

  /** The canonical path of the service. */
  get path(): string {
    return this.#server.path;
  }

  /** The Server underneath (listener, `inherited`, `whenClosed`). */
  get server(): Server {
    return this.#server;
  }

  /** libcs cstimeout: call `timeout` after `ms` without any event (0: never). Cancels the wakeup; returns the previous timeout. */
  timeout(ms: number): number {
    const previous = this.#timeoutMs;
    this.#timeoutMs = ms;
    this.#wakeupMs = 0;
    this.#restartTimer();
    return previous;
  }

  /** libcs cswakeup: call `timeout` every `ms` (0: never). Cancels the timeout; returns the previous interval. */
  wakeup(ms: number): number {
    const previous = this.#wakeupMs;
    this.#wakeupMs = ms;
    this.#timeoutMs = 0;
    this.#restartTimer();
    return previous;
  }

  /** libcs csfd: set which readiness of client `fd` calls `read`/`write`. */
  watch(fd: number, interest: Interest): void {
    const c = this.#client(fd, 'serveLoop');
    c.interest = interest;
    this.#arm(c);
  }

  /**
   * Queue `data` for client `fd`, with descriptors `fds` that the loop takes over (it
   * closes them once sent, or when the client goes). Sent as the client reads: while a
   * client's unsent output is over its bound (see README) the loop calls no `read` for it.
   */
  send(fd: number, data: Uint8Array | string, fds: number[] = []): void {
    this.#queue(fd, typeof data === 'string' ? Buffer.from(data) : data, fds, fds);
  }

  /** Queue a cssend record carrying `fds` (taken over, as with send()) for client `fd`. */
  sendRecord(fd: number, fds: number[]): void {
    let m;
    try {
      m = recordMessage(fds, this.path);
    } catch (e) {
      closeAll(fds);
      throw e;
    }
    this.#queue(fd, m.data, m.fds, fds);
  }

  #queue(fd: number, data: Uint8Array, fds: readonly number[], owned: number[]): void {
    let c: Client;
    try {
      c = this.#client(fd, 'write');
    } catch (e) {
      closeAll(owned);
      throw e;
    }
    c.out.push(data, fds, owned);
    this.#flush(c);
    this.#arm(c);
  }

  #client(fd: number, syscall: string): Client {
    const c = this.#clients.get(fd);
    if (!c) throw csError('EBADF', syscall, this.path, `fd ${fd} is not a client of this server`);
    return c;
  }

  /** Send what the client takes; a send error means it is gone: close it once no handler runs for it. */
  #flush(c: Client): void {
    if (c.failed) return;
    const wasOver = this.#output.over;
    try {
      c.out.flush(c.fd);
    } catch {
      c.failed = true;
      setImmediate(() => this.#closeClient(c));
    }
    this.#armAllOnceBelow(wasOver);
  }

  /** The service's output fell below its bound: the clients it held back are read again. */
  #armAllOnceBelow(wasOver: boolean): void {
    if (wasOver && !this.#output.over) for (const other of this.#clients.values()) this.#arm(other);
  }

  /** Close client `fd` now, as a handler returning -1 does (nothing happens if it is closed already). */
  close(fd: number): void {
    const c = this.#clients.get(fd);
    if (c) this.#closeClient(c);
  }

  #closeClient(c: Client): void {
    if (this.#clients.get(c.fd) !== c) return; // closed already (its fd may belong to a new client now)
    this.#clients.delete(c.fd);
    c.watcher.close();
    const wasOver = this.#output.over;
    c.out.discard();
    this.#armAllOnceBelow(wasOver);
    forget(c.fd);
    close(c.fd);
    c.release();
  }

  /** Keep the server from retiring while it holds something for its clients; call the result to let go. */
  hold(): () => void {
    return this.#server.hold();
  }

  /** Stop serving: `done(0)` runs, then every client is closed. */
  stop(): void {
    this.#server.close();
  }

  /** SIGTERM/SIGINT: true to stop. */
  #interrupted(signal: NodeJS.Signals): boolean {
    if (!this.handlers.done) return true;
    if (this.handlers.done(constants.signals[signal]) === 0) return false;
    this.#doneCalled = true;
    return true;
  }

  /** A client completed the rendezvous: the loop takes its descriptor over from the Connection. */
  #adopt(conn: Connection | NetSocket): void {
    const fd = dup(conn.fd);
    const id = conn.peer;
    const args = 'args' in conn ? conn.args : null;
    conn.destroy();
    remember(fd, this.path);
    const c: Client = {
      fd,
      watcher: new Watcher(fd),
      interest: this.handlers.read ? 'r' : '',
      out: new Outbox(this.#output),
      failed: false,
      waitingRead: false,
      waitingWrite: false,
      onReadable: () => {
        c.waitingRead = false;
        this.#event(fd, c, this.handlers.read);
      },
      onWritable: () => {
        c.waitingWrite = false;
        this.#flush(c);
        if (c.interest.includes('w')) this.#event(fd, c, this.handlers.write);
        else this.#arm(c);
      },
      release: this.#server.hold(),
    };
    this.#clients.set(fd, c);
    this.#event(fd, c, this.handlers.connect && ((f: number) => this.handlers.connect!(f, id, args)));
  }

  #event(fd: number, c: Client, handler: ((fd: number) => number | void) | undefined): void {
    this.#activity();
    let r: number | void = undefined;
    try {
      r = handler?.(fd);
    } catch (e) {
      serverLog(this.path, `handler failed on fd ${fd}: ${(e as Error).message}`);
      r = -1;
    }
    if (isNegative(r) || c.failed) this.#closeClient(c);
    else this.#arm(c);
  }

  /** Wait for what the client's interest asks, less reads while its output is full, plus writability while output waits. */
  #arm(c: Client): void {
    if (this.#clients.get(c.fd) !== c) return;
    const read = c.interest.includes('r') && !c.out.full && !c.failed;
    const write = (c.interest.includes('w') || !c.out.empty) && !c.failed;
    if (read !== c.waitingRead) {
      c.waitingRead = read;
      if (read) c.watcher.onReadable(c.onReadable);
      else c.watcher.cancel(c.onReadable);
    }
    if (write !== c.waitingWrite) {
      c.waitingWrite = write;
      if (write) c.watcher.onWritable(c.onWritable);
      else c.watcher.cancel(c.onWritable);
    }
  }

  /** An event happened: it pushes a pending timeout back (a wakeup ticks regardless). */
  #activity(): void {
    if (this.#timeoutMs) this.#restartTimer();
  }

  #restartTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const ms = this.#timeoutMs || this.#wakeupMs;
    if (!ms || this.#doneCalled) return;
    this.#timer = setTimeout(() => this.#tick(), ms);
    this.#timer.unref();
  }

  #tick(): void {
    this.#timer = null;
    let r: number | void = undefined;
    try {
      r = this.handlers.timeout?.();
    } catch (e) {
      serverLog(this.path, `timeout handler failed: ${(e as Error).message}`);
    }
    if (isNegative(r)) this.stop();
    else if (!this.#timer) this.#restartTimer();
  }

  #finish(): void {
    if (!this.#doneCalled) this.handlers.done?.(0);
    this.#doneCalled = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    for (const fd of [...this.#clients.keys()]) this.close(fd);
  }
}

/**
 * Run the libcs server loop on the service `path` (see ServeLoopHandlers). Resolves
 * once the server listens; it then runs until it retires, is stopped, or gets SIGTERM/SIGINT.
 */
export async function serveLoop(path: string, handlers: ServeLoopHandlers, opts: ServeOptions = {}): Promise<ServeLoop> {
  if (!handlers || (!handlers.connect && !handlers.read)) {
    throw Object.assign(new TypeError('serveLoop: a connect or read handler must be supplied'), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return ServeLoop.start(path, handlers, opts);
}
