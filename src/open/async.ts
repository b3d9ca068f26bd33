// The idiomatic async entry points: open() a service as a Connection, listen() on one.
// tcp paths give Node sockets (NetSocket/NetListener); udp paths a Connection over a
// connected datagram socket, where each write is one datagram and each chunk read one.
import { abortError, type CsError } from '../sys';
import type { NetListener } from '../net/listener';
import type { NetSocket } from '../net/socket-stream';
import type * as NetSocketM from '../net/socket-stream';
import type { NetStream } from '../net/open';
import { Connection } from '../stream/connection';
import { Listener } from '../stream/listener';
import { listenOn } from '../launch/create';
import { resolveService, type Service } from '../launch/service';
import { closeOnAbort } from '../io';
import { notRunning, notRunningError, openAsync, type Opened } from './connect';
import { isUnixPath, listenUnix, openUnix } from './unix';
import type * as Start from './start';
import { checkOpenOptions } from './options';

// tcp paths only: an fdp open never loads the net layer
const netSocket = (): typeof NetSocketM => require('../net/socket-stream');
// only when nobody answers: opening a running service never loads auto-start
const start = (): typeof Start => require('./start');

export interface OpenOptions {
  signal?: AbortSignal;
  /** A `unix:` path's server speaks the cs rendezvous (namespace paths always do). Default false. */
  rendezvous?: boolean;
}

/** The async object of an opened stream, by protocol. */
function streamOf(s: Service, opened: Opened): Connection | NetSocket {
  if (s.path.proto === 'tcp') return new (netSocket().NetSocket)(opened as NetStream);
  const net = 'path' in opened ? opened : null;
  return new Connection(opened.fd, net?.path ?? s.path.canonical, opened.watcher, opened.peer, 'cs' in opened && opened.cs);
}

/**
 * Connect to the service `path` without blocking the event loop, starting it as csopen
 * does: a tcp path gives a NetSocket, an fdp or udp path a Connection.
 */
export async function open(path: `/dev/tcp/${string}`, opts?: OpenOptions): Promise<NetSocket>;
export async function open(path: `/dev/fdp/${string}` | `/dev/udp/${string}` | `unix:${string}`, opts?: OpenOptions): Promise<Connection>;
export async function open(path: string, opts?: OpenOptions): Promise<Connection | NetSocket>;
export async function open(path: string, opts: OpenOptions = {}): Promise<Connection | NetSocket> {
  if (isUnixPath(path)) return openUnix(path, opts.rendezvous ?? false, opts.signal);
  return openResolved(path, opts, true);
}

async function openResolved(path: string, opts: OpenOptions, reuseMiss: boolean): Promise<Connection | NetSocket> {
  const s = resolveService(path, 'open', reuseMiss);
  checkOpenOptions(s.path, 'open');
  let opened: Opened;
  try {
    opened = await openAsync(s, opts.signal);
  } catch (e) {
    if (!notRunning(e)) throw e;
    if (s.guessed) return openResolved(path, opts, false); // an entry installed since may name another mount directory
    if (!start().mayStart(s)) throw notRunningError(s, e as CsError);
    opened = await start().openStarting(s, opts.signal);
  }
  return streamOf(s, opened);
}

export interface ListenOptions {
  /** Aborting it closes the listener. */
  signal?: AbortSignal;
}

/** Create the service `path` and accept its connections (tcp: a NetListener; udp has no listener: use csopen with CS_OPEN_CREATE). */
export async function listen(path: `/dev/tcp/${string}`, opts?: ListenOptions): Promise<NetListener>;
export async function listen(path: `/dev/fdp/${string}` | `unix:${string}`, opts?: ListenOptions): Promise<Listener>;
export async function listen(path: string, opts?: ListenOptions): Promise<Listener | NetListener>;
export async function listen(path: string, opts: ListenOptions = {}): Promise<Listener | NetListener> {
  const { signal } = opts;
  if (signal?.aborted) throw abortError(signal);
  const listener = isUnixPath(path) ? new Listener(listenUnix(path, 'listen'), path) : listenOn(resolveService(path, 'listen'), 'listen');
  listener.once('close', closeOnAbort(signal, () => void listener.close()));
  return listener;
}
