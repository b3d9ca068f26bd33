// The idiomatic async entry points: open() a service as a Connection, listen() on one.
// tcp paths give Node sockets (NetSocket/NetListener); udp paths a Connection over a
// connected datagram socket, where each write is one datagram and each chunk read one.
import { csError, type CsError } from '../sys';
import { NetListener } from '../net/listener';
import { NetSocket } from '../net/socket-stream';
import type { NetStream } from '../net/open';
import { Connection } from './connection';
import { createListener } from './listen';
import { Listener } from './listener';
import { loadStart, notRunning, notRunningError, openAsync, type Opened } from './open';
import { resolveService, type Service } from './resolve';

export interface OpenOptions {
  signal?: AbortSignal;
}

/** The async object of an opened stream, by protocol. */
function streamOf(s: Service, opened: Opened): Connection | NetSocket {
  if (s.path.proto === 'tcp') return new NetSocket(opened as NetStream);
  const net = 'path' in opened ? opened : null;
  return new Connection(opened.fd, net?.path ?? s.path.canonical, opened.watcher, net?.peer);
}

/** Connect to the service `path` without blocking the event loop, starting it as csopen does. */
export async function open(path: `/dev/tcp/${string}`, opts?: OpenOptions): Promise<NetSocket>;
export async function open(path: string, opts?: OpenOptions): Promise<Connection>;
export async function open(path: string, opts: OpenOptions = {}): Promise<Connection | NetSocket> {
  const s = resolveService(path, 'open');
  let opened: Opened;
  try {
    opened = await openAsync(s, opts.signal);
  } catch (e) {
    if (!notRunning(e)) throw e;
    const start = loadStart();
    if (!start.mayStart(s)) throw notRunningError(s, e as CsError);
    opened = await start.openStarting(s, opts.signal);
  }
  return streamOf(s, opened);
}

/** Create the service `path` and accept its connections (tcp: a NetListener; udp has no listener: use csopen with CS_OPEN_CREATE). */
export async function listen(path: `/dev/tcp/${string}`): Promise<NetListener>;
export async function listen(path: string): Promise<Listener>;
export async function listen(path: string): Promise<Listener | NetListener> {
  const s = resolveService(path, 'listen');
  if (s.path.proto === 'udp') throw csError('EOPNOTSUPP', 'listen', s.path.canonical, 'udp has no listener: csopen with CS_OPEN_CREATE gives the bound datagram socket');
  const fd = createListener(s);
  if (s.path.proto === 'tcp') return new NetListener(fd, s.md);
  return new Listener(fd, s.path.canonical, s.md);
}
