// csserve(): the libcs server loop in C shape. Handlers get raw stream descriptors
// and are called as things happen: a client connected, a stream is readable or
// writable, the timeout or wakeup interval passed, the server is done. It runs on
// serve(), so it takes a handed-over socket, retires when idle and cleans up alike.
import { constants } from 'node:os';
import { close, csError, dup, Watcher } from '../sys';
import type { CsId } from '../stream/flags';
import type { Connection } from '../stream/connection';
import { forget, remember } from '../stream/registry';
import { serve, serverLog, type Server, type ServeOptions } from './serve';

/**
 * The callbacks of csserve, after libcs's csserve(handle, path, init, done, con, rd, wr, to).
 * A handler that returns a negative number (libcs's -1) closes the client it was called for.
 */
export interface CsServeHandlers {
  /** The server is listening (libcs `init`). */
  init?(server: CsServer): void;
  /** A client completed the rendezvous on `fd`, a non-blocking stream the loop owns. Negative: refuse it (the loop closes it). */
  connect?(fd: number, id: CsId): number | void;
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
  watcher: Watcher;
  interest: Interest;
  waitingRead: boolean;
  waitingWrite: boolean;
  onReadable: () => void;
  onWritable: () => void;
  release: () => void;
}

const isNegative = (r: unknown): boolean => typeof r === 'number' && r < 0;

/** The loop csserve runs: its clients, timers and the Server underneath. */
export class CsServer {
  #clients = new Map<number, Client>();
  #timeoutMs = 0;
  #wakeupMs = 0;
  #timer: NodeJS.Timeout | null = null;
  #doneCalled = false;
  #server!: Server;

  private constructor(private readonly handlers: CsServeHandlers) {}

  /** csserve() itself: see below. */
  static async start(path: string, handlers: CsServeHandlers, opts: ServeOptions): Promise<CsServer> {
    const loop = new CsServer(handlers);
    loop.#server = await serve(path, (conn) => loop.#adopt(conn), {
      ...opts,
      onSignal: (signal) => opts.onSignal?.(signal) !== false && loop.#interrupted(signal),
    });
    void loop.#server.closed.then(() => loop.#finish());
    handlers.init?.(loop);
    return loop;
  }

  /** The canonical path of the service. */
  get path(): string {
    return this.#server.path;
  }

  /** The Server underneath (listener, `inherited`, `closed`). */
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
    const c = this.#clients.get(fd);
    if (!c) throw csError('EBADF', 'csserve', this.path, `fd ${fd} is not a client of this server`);
    c.interest = interest;
    if (!interest.includes('r') && c.waitingRead) {
      c.waitingRead = false;
      c.watcher.cancel(c.onReadable);
    }
    if (!interest.includes('w') && c.waitingWrite) {
      c.waitingWrite = false;
      c.watcher.cancel(c.onWritable);
    }
    this.#arm(c);
  }

  /** Close client `fd` now, as a handler returning -1 does (nothing happens if it is closed already). */
  close(fd: number): void {
    const c = this.#clients.get(fd);
    if (!c) return;
    this.#clients.delete(fd);
    c.watcher.close();
    forget(fd);
    close(fd);
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
  #adopt(conn: Connection): void {
    const fd = dup(conn.fd);
    const id = conn.peer;
    conn.destroy();
    remember(fd, this.path);
    const c: Client = {
      watcher: new Watcher(fd),
      interest: this.handlers.read ? 'r' : '',
      waitingRead: false,
      waitingWrite: false,
      onReadable: () => {
        c.waitingRead = false;
        this.#event(fd, c, this.handlers.read);
      },
      onWritable: () => {
        c.waitingWrite = false;
        this.#event(fd, c, this.handlers.write);
      },
      release: this.#server.hold(),
    };
    this.#clients.set(fd, c);
    this.#event(fd, c, this.handlers.connect && ((f: number) => this.handlers.connect!(f, id)));
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
    if (isNegative(r)) this.close(fd);
    else if (this.#clients.get(fd) === c) this.#arm(c);
  }

  #arm(c: Client): void {
    if (c.interest.includes('r') && !c.waitingRead) {
      c.waitingRead = true;
      c.watcher.onReadable(c.onReadable);
    }
    if (c.interest.includes('w') && !c.waitingWrite) {
      c.waitingWrite = true;
      c.watcher.onWritable(c.onWritable);
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
 * Run the libcs server loop on the service `path` (see CsServeHandlers). Resolves
 * once the server listens; it then runs until it retires, is stopped, or gets SIGTERM/SIGINT.
 */
export async function csserve(path: string, handlers: CsServeHandlers, opts: ServeOptions = {}): Promise<CsServer> {
  if (!handlers || (!handlers.connect && !handlers.read)) {
    throw Object.assign(new TypeError('csserve: a connect or read handler must be supplied'), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return CsServer.start(path, handlers, opts);
}
