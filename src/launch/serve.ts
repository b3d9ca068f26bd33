// serve(): the idiomatic server loop, for fdp and tcp services. It takes the
// listening socket that cs auto-start, systemd or a parent handed over (LISTEN_FDS),
// else creates the service itself; gives each client to a callback as a Connection; retires after
// an idle period; removes its S-cs.mnt/P-cs.mnt records on close, exit, SIGTERM and SIGINT.
import { localInet, localUnixPath } from '../sys';
import { adopt, waitSync } from '../io';
import { recordedPid, recordPid, removeRecords, type MountDir } from '../namespace';
import type { Connection } from '../stream/connection';
import { Listener } from '../stream/listener';
import { NetListener } from '../net/listener';
import type { NetSocket } from '../net/socket-stream';
import { writeRecord } from '../net/record';
import { remember } from '../stream/registry';
import { listenOn } from './create';
import { resolveService, type Service } from './service';
import { takeHandedListener } from './activation';
import { IdleTimer, idlePeriod, untilProcessEnd } from './lifetime';

export interface ServeOptions {
  /** Milliseconds with no client and nothing held before the server retires; 0: never. Default $CS_IDLE_MS, else 5 minutes. */
  idle?: number;
  /** Never retire when idle, like the path's `slave` option. */
  slave?: boolean;
  /** Called on SIGTERM/SIGINT before the server closes; return false to keep serving instead. */
  onSignal?: (signal: NodeJS.Signals) => boolean | void;
}

/** A tcp service's handler gets NetSockets (see the overloads of serve()). */
export type ConnectionHandler = (conn: Connection) => unknown;
export type NetConnectionHandler = (conn: NetSocket) => unknown;

/** Write one line to the server's log (stderr, which is L-cs.mnt for a started server). */
export function serverLog(path: string, text: string): void {
  process.stderr.write(`${new Date().toISOString()} ${path}[${process.pid}]: ${text}\n`);
}


/** True when `fd` is bound to the service's S-cs.mnt (directly, or through a directory fd for a long path). */
function boundToService(fd: number, md: MountDir): boolean {
  const name = localUnixPath(fd);
  return name === md.socket || /^\/proc\/self\/fd\/\d+\/S-cs\.mnt$/.test(name);
}

/**
 * Take over a handed-over fdp listening socket of service `s`: non-blocking, known
 * to cspath, and recorded as served by this process when it is bound to the service.
 */
export function adoptListener(s: Service, fd: number): number {
  remember(adopt(fd), s.path.canonical, s.md);
  // cs auto-start recorded this pid already; systemd or a hand-made hand-over did not
  if (recordedPid(s.md) !== process.pid && boundToService(fd, s.md)) recordPid(s.md, process.pid);
  return fd;
}

function handedListener(s: Service, fd: number): Listener | NetListener {
  if (s.path.proto === 'tcp') {
    adopt(fd);
    // a hand-made or systemd hand-over: record where this server listens, as netCreate would
    if (recordedPid(s.md) !== process.pid) writeRecord(s.md, 'tcp', localInet(fd));
    return new NetListener(fd, s.md);
  }
  return new Listener(adoptListener(s, fd), s.path.canonical, s.md);
}

/** A running service, as serve() returns it. */
export class Server {
  readonly #md: MountDir;
  readonly #idle: IdleTimer;
  readonly #forgetAtEnd: () => void;
  #closed = false;
  #resolveClosed!: () => void;
  /** Resolves once the server stopped listening: idle, a signal, or close(). */
  readonly closed = new Promise<void>((resolve) => (this.#resolveClosed = resolve));

  /**
   * @param listener the service's listening stream, owned from now on
   * @param inherited true when the socket was handed over (LISTEN_FDS) rather than created here
   */
  constructor(s: Service, readonly listener: Listener | NetListener, readonly inherited: boolean, onConnection: ConnectionHandler | NetConnectionHandler, opts: ServeOptions) {
    this.#md = s.md;
    this.#idle = new IdleTimer(idlePeriod(opts.idle, opts.slave === true || s.path.options.slave), () => this.#retire());
    this.#forgetAtEnd = untilProcessEnd({
      interrupt: (signal) => {
        if (opts.onSignal?.(signal) === false) return false;
        this.close();
        return true;
      },
      exiting: () => removeRecords(this.#md),
    });
    listener.on('clientError', (e: Error) => serverLog(this.path, e.message));
    listener.on('connection', (conn: Connection & NetSocket) => this.#serve(conn, onConnection));
  }

  /** The canonical path of the service. */
  get path(): string {
    return this.listener.path;
  }

  /** Keep the server from retiring while something outlives its connections; call the result to let go. */
  hold(): () => void {
    return this.#idle.hold();
  }

  /** Stop listening and remove this server's records; connected clients stay until they close. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#idle.stop();
    this.#forgetAtEnd();
    removeRecords(this.#md);
    this.listener.close();
    this.#resolveClosed();
  }

  #serve(conn: Connection & NetSocket, onConnection: ConnectionHandler | NetConnectionHandler): void {
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
    removeRecords(this.#md);
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
export async function serve(path: string, onConnection: ConnectionHandler, opts?: ServeOptions): Promise<Server>;
export async function serve(path: string, onConnection: ConnectionHandler | NetConnectionHandler, opts: ServeOptions = {}): Promise<Server> {
  const s = resolveService(path, 'serve');
  const fd = takeHandedListener(s.path.service!, s.path.canonical);
  const listener = fd === null ? listenOn(s, 'serve') : handedListener(s, fd);
  return new Server(s, listener, fd !== null, onConnection, opts);
}
