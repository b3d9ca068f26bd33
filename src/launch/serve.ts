// serve(): the idiomatic server loop, for fdp and tcp services. It takes the
// listening socket that cs auto-start, systemd or a parent handed over (LISTEN_FDS),
// else creates the service itself; gives each client to a callback as a Connection; retires after
// an idle period; removes its S-cs.mnt/P-cs.mnt records on close, exit, SIGTERM and SIGINT
// (a socket that no cs process made, such as systemd's, stays); drains and exits on
// DRAIN_SIGNAL (`cs restart`); reports to a supervisor (sd_notify).
import { abortError, localInet, localUnixPath } from '../sys';
import { adopt, closeOnAbort, waitSync } from '../io';
import { lockSync, recordedPid, recordedServer, recordPid, removeRecords, type MountDir } from '../namespace';
import type { Connection } from '../stream/connection';
import { Listener } from '../stream/listener';
import type { NetListener } from '../net/listener';
import type * as NetListenerM from '../net/listener';
import type { NetSocket } from '../net/socket-stream';
import type * as NetRecord from '../net/record';
import { remember } from '../stream/registry';
import { listenOn } from './create';
import { resolveService, type Service } from './service';
import { takeHandedListener } from './activation';
import { drainPeriod, IdleTimer, idlePeriod, untilProcessEnd } from './lifetime';
import { notifyReady, notifyStopping } from './notify';

// tcp services only: an fdp server never loads the net layer
const netListener = (): typeof NetListenerM => require('../net/listener');
const netRecord = (): typeof NetRecord => require('../net/record');

export interface ServeOptions {
  /** Milliseconds with no client and nothing held before the server retires; 0: never. Default $CS_IDLE_MS, else 5 minutes. */
  idle?: number;
  /** Never retire when idle, like the path's `slave` option. */
  slave?: boolean;
  /** Called on SIGTERM/SIGINT before the server closes; return false to keep serving instead. */
  onSignal?: (signal: NodeJS.Signals) => boolean | void;
  /** Milliseconds a drain (DRAIN_SIGNAL, or drain() without an argument) waits for the connections before it closes them. Default $CS_DRAIN_MS, else 30 s. */
  drain?: number;
  /** Aborting it closes the server. */
  signal?: AbortSignal;
}

/** A tcp service's handler gets NetSockets (see the overloads of serve()). */
export type ConnectionHandler = (conn: Connection) => unknown;
export type NetConnectionHandler = (conn: NetSocket) => unknown;

/** Write one line to the server's log (stderr, which is L-cs.mnt for a started server). */
export function serverLog(path: string, text: string): void {
  process.stderr.write(`${new Date().toISOString()} ${path}[${process.pid}]: ${text}\n`);
}


/** True when `fd` is bound to the service's S-cs.mnt (directly, or through a directory fd for a long path). */
export function boundToService(fd: number, md: MountDir): boolean {
  const name = localUnixPath(fd);
  return name === md.socket || /^\/proc\/self\/fd\/\d+\/S-cs\.mnt$/.test(name);
}

/**
 * True when a cs process made the handed socket of `md`: cs auto-start, or a cs
 * process that created it and handed it on, recorded a live server in P-cs.mnt.
 * Auto-start records under X-cs.mnt before releasing it, so taking the lock here
 * orders that record before this check. Nobody records for systemd.
 */
function madeByCs(md: MountDir): boolean {
  const held = lockSync(md);
  try {
    return recordedServer(md).alive;
  } finally {
    held.release();
  }
}

/**
 * Take over a handed-over fdp listening socket of service `s`: non-blocking, known
 * to cspath, and recorded as served by this process when it is bound to the service.
 * Returns whether the socket file is cs's to remove when the server stops.
 */
function adoptHanded(s: Service, fd: number): boolean {
  remember(adopt(fd), s.path.canonical, s.md);
  if (!boundToService(fd, s.md)) return false;
  const ours = madeByCs(s.md);
  // cs auto-start recorded this pid already; systemd or a hand-made hand-over did not
  if (recordedPid(s.md) !== process.pid) recordPid(s.md, process.pid);
  return ours;
}

/** adopt() for a CAPS service (which keeps its own records): the fd. */
export function adoptListener(s: Service, fd: number): number {
  adoptHanded(s, fd);
  return fd;
}

/** A handed-over socket as a listener, and whether its socket file is cs's to remove (a tcp record always is). */
function handedListener(s: Service, fd: number): { listener: Listener | NetListener; ownsSocket: boolean } {
  if (s.path.proto === 'tcp') {
    adopt(fd);
    // a hand-made or systemd hand-over: record where this server listens, as netCreate would
    if (recordedPid(s.md) !== process.pid) netRecord().writeRecord(s.md, 'tcp', localInet(fd));
    return { listener: new (netListener().NetListener)(fd, s.md), ownsSocket: true };
  }
  const ownsSocket = adoptHanded(s, fd);
  return { listener: new Listener(fd, s.path.canonical, s.md), ownsSocket };
}

/** A running service, as serve() returns it. */
export class Server {
  readonly #md: MountDir;
  readonly #idle: IdleTimer;
  readonly #forgetAtEnd: () => void;
  readonly #removeRecords: () => void;
  readonly #drainMs: number;
  /** The connections handed out and not closed yet: what a drain that runs out of time closes. */
  readonly #connections = new Set<Connection | NetSocket>();
  #closed = false;
  #resolveClosed!: () => void;
  /** Resolves once the server stopped listening (idle, a signal, an abort, or close()), or once a drain() finished. */
  readonly whenClosed = new Promise<void>((resolve) => (this.#resolveClosed = resolve));

  /**
   * @param listener the service's listening stream, owned from now on
   * @param inherited true when the socket was handed over (LISTEN_FDS) rather than created here
   * @param ownsSocket false for a socket no cs process made (systemd's): its file stays when the server stops
   */
  constructor(s: Service, readonly listener: Listener | NetListener, readonly inherited: boolean, ownsSocket: boolean,
    onConnection: ConnectionHandler | NetConnectionHandler, opts: ServeOptions) {
    this.#md = s.md;
    this.#removeRecords = () => removeRecords(this.#md, process.pid, ownsSocket);
    this.#drainMs = drainPeriod(opts.drain);
    this.#idle = new IdleTimer(idlePeriod(opts.idle, opts.slave === true || s.path.options.slave), () => this.#retire());
    this.#forgetAtEnd = untilProcessEnd({
      interrupt: (signal) => {
        if (opts.onSignal?.(signal) === false) return false;
        this.close();
        return true;
      },
      exiting: () => this.#removeRecords(),
      drain: () => this.drain(),
    });
    listener.on('clientError', (e: Error) => serverLog(this.path, e.message));
    listener.on('connection', (conn: Connection & NetSocket) => this.#serve(conn, onConnection));
    notifyReady(this, this.path, this.#logFailure);
    void this.whenClosed.then(closeOnAbort(opts.signal, () => void this.close()));
  }

  readonly #logFailure = (e: Error) => serverLog(this.path, e.message);

  /** The canonical path of the service. */
  get path(): string {
    return this.listener.path;
  }

  /** Keep the server from retiring while something outlives its connections; call the result to let go. */
  hold(): () => void {
    return this.#idle.hold();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Stop listening and remove this server's records, at once; connected clients stay until they close. */
  close(): Promise<void> {
    if (this.#closed) return this.whenClosed;
    this.#stop();
    this.listener.close();
    this.#resolveClosed();
    return this.whenClosed;
  }

  /**
   * Stop accepting and let the clients finish, as a server being replaced does (`cs
   * restart`): clients waiting in the socket's backlog are left to the new server,
   * clients already accepted finish their rendezvous and are served. Records go as
   * with close() (only while they name this process, which after a restart they do
   * not). Resolves once nothing holds the server any more (its connections closed,
   * hold()s let go); what is still open after `ms` is closed then.
   */
  async drain(ms = this.#drainMs): Promise<void> {
    if (this.#closed) return this.whenClosed;
    this.#stop();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.listener.stopAccepting().then(() => this.#idle.whenFree()), late]);
    clearTimeout(timer);
    for (const conn of this.#connections) conn.destroy();
    this.listener.close();
    this.#resolveClosed();
    return this.whenClosed;
  }

  /** What close() and drain() share: no more retiring, signal handling or records. */
  #stop(): void {
    this.#closed = true;
    this.#idle.stop();
    this.#forgetAtEnd();
    // before the listener closes, which would remove whatever P-cs.mnt still names this process for
    this.#removeRecords();
    notifyStopping(this, this.#logFailure);
  }

  #serve(conn: Connection & NetSocket, onConnection: ConnectionHandler | NetConnectionHandler): void {
    this.#connections.add(conn);
    conn.once('close', () => this.#connections.delete(conn));
    conn.once('close', this.#idle.hold());
    conn.on('error', (e: Error) => serverLog(this.path, e.message));
    try {
      const done = onConnection(conn);
      if (done instanceof Promise) done.catch((e: Error) => conn.destroy(e));
    } catch (e) {
      conn.destroy(e as Error);
    }
  }

  /**
   * Idle: remove the records first, so new clients start a fresh server; a client
   * that connected just before is still in the backlog and gets served, then the
   * server retires at the next idle period.
   */
  #retire(): void {
    this.#removeRecords();
    if (waitSync(this.listener.fd, 'r', 0)) this.#idle.restart();
    else this.close();
  }
}

/**
 * Serve the service `path`: each client that completes the rendezvous is passed
 * to `onConnection`. Uses the socket handed over by LISTEN_FDS when there is one
 * for this service, else creates it. A handler that throws or rejects closes its connection.
 */
export async function serve(path: `/dev/tcp/${string}`, onConnection: NetConnectionHandler, opts?: ServeOptions): Promise<Server>;
export async function serve(path: `/dev/fdp/${string}`, onConnection: ConnectionHandler, opts?: ServeOptions): Promise<Server>;
export async function serve(path: string, onConnection: (conn: Connection | NetSocket) => unknown, opts?: ServeOptions): Promise<Server>;
export async function serve(path: string, onConnection: ConnectionHandler | NetConnectionHandler, opts: ServeOptions = {}): Promise<Server> {
  if (opts.signal?.aborted) throw abortError(opts.signal);
  const s = resolveService(path, 'serve');
  const fd = takeHandedListener(s.path.service!, s.path.canonical);
  const { listener, ownsSocket } = fd === null ? { listener: listenOn(s, 'serve'), ownsSocket: true } : handedListener(s, fd);
  return new Server(s, listener, fd !== null, ownsSocket, onConnection, opts);
}
