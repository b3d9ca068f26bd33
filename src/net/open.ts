// csopen for tcp and udp paths, client side. Clients connect to the service's
// namespace record first, then to the host's addresses at the service's port
// (SPEC 2), all within one deadline; `user`/`group` services then run the access
// handshake (auth.ts). CS_OPEN_CREATE makes the server side (server.ts).
import { close, connect, Watcher, type CsError } from '../sys';
import { driveAsync, driveSync, handOver, handshakeTimeout } from '../io';
import type { MountDir } from '../namespace';
import type { CsPath } from '../path';
import { CS_OPEN_CREATE } from '../stream/flags';
import { remember } from '../stream/registry';
import { clientAuth, hasRules } from './auth';
import { addressHost, resolveHost, resolveHostSync } from './hosts';
import { peerId, type Endpoint, type NetId } from './identity';
import { netPath } from './netpath';
import { recordedEndpoint } from './record';
import { pickShareHost } from './remote';
import { netCreate } from './server';
import { checkNetPath, isWildcard, netServiceDir, onHost, portOf, type NetPath } from './service';
import { connectAsync, connectSync, netSocket, sockaddr } from './socket';

export interface NetOpenOptions {
  /** Bound on connecting (each address tried shares it); default $CS_TIMEOUT_MS or 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A connected non-blocking internet stream (async API): the caller owns fd and watcher. */
export interface NetStream {
  fd: number;
  watcher: Watcher;
  /** cspath of the stream: /dev/<proto>/<address>/<port> of the peer. */
  path: string;
  peer: NetId;
}

/** What a client works from: the path with its host chosen, its mount directory, its deadline. */
interface Plan {
  q: NetPath;
  md: MountDir;
  ms: number;
  deadline: number;
}

function plan(p: NetPath, opts: NetOpenOptions): Plan {
  const q = p.host === 'share' ? onHost(p, pickShareHost() ?? 'local') : p;
  const ms = opts.timeoutMs ?? handshakeTimeout();
  return { q, md: netServiceDir(q), ms, deadline: Date.now() + ms };
}

/**
 * Where a client tries to reach the service: the recorded endpoint first (a server
 * bound to every address is tried at each address of the host), then each address
 * at the service's port.
 */
function targets({ q, md }: Plan, addresses: string[]): Endpoint[] {
  const port = portOf(q);
  const recorded = recordedEndpoint(q, md);
  const all: Endpoint[] = [];
  const add = (ep: Endpoint) => {
    if (!all.some((e) => e.address === ep.address && e.port === ep.port)) all.push(ep);
  };
  if (recorded && isWildcard(recorded.address)) for (const address of addresses) add({ address, port: recorded.port });
  else if (recorded) add(recorded);
  for (const address of addresses) add({ address, port });
  return all;
}

/** A failure that ends the search: time is up or the caller gave up. Others try the next endpoint. */
function final(e: unknown): boolean {
  return (e as Error).name === 'AbortError' || (e as CsError).code === 'ETIMEDOUT';
}

/** Try each endpoint in turn until one connects; throw the last failure. */
function connectFirst<T>(eps: Endpoint[], attempt: (ep: Endpoint) => T): T {
  let last: unknown;
  for (const ep of eps) {
    try {
      return attempt(ep);
    } catch (e) {
      if (final(e)) throw e;
      last = e;
    }
  }
  throw last;
}

async function connectFirstAsync<T>(eps: Endpoint[], attempt: (ep: Endpoint) => Promise<T>): Promise<T> {
  let last: unknown;
  for (const ep of eps) {
    try {
      return await attempt(ep);
    } catch (e) {
      if (final(e)) throw e;
      last = e;
    }
  }
  throw last;
}

/** Connect to the first endpoint of `p` that answers, before any access handshake; a non-blocking fd. */
export function netDialSync(p: CsPath, opts: NetOpenOptions = {}): number {
  checkNetPath(p, 'csopen');
  const pl = plan(p, opts);
  const { q } = pl;
  return connectFirst(targets(pl, resolveHostSync(q.host, q.canonical)), (ep) => connectSync(q.proto, ep, pl.deadline, pl.ms, q.canonical));
}

/**
 * csopen with `now` (libcs's CS_OPEN_NOW): connect to the service's first endpoint
 * without waiting for the connect to finish. A connect that completed at once gives a
 * blocking fd; one still in progress a non-blocking fd (poll it for writing, then
 * SO_ERROR tells how it ended). Errors the kernel reports at once (ECONNREFUSED) are thrown.
 */
export function netConnectNow(p: CsPath): number {
  checkNetPath(p, 'csopen');
  const pl = plan(p, {});
  const { q } = pl;
  const ep = targets(pl, resolveHostSync(q.host, q.canonical))[0];
  const fd = netSocket(q.proto, ep.address);
  try {
    const done = connect(fd, sockaddr(ep), q.canonical);
    remember(fd, `/dev/${q.proto}/${addressHost(ep.address)}/${ep.port}`);
    return done ? handOver(fd) : fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** The client half of a `user`/`group` service's access handshake on dialled fd; closes it on failure. */
export function netGreetSync(p: CsPath, fd: number): number {
  try {
    checkNetPath(p, 'csopen');
    const md = netServiceDir(p);
    if (hasRules(md)) driveSync(clientAuth(fd, p.canonical), fd, handshakeTimeout(), 'csopen', p.canonical);
    remember(fd, netPath(fd));
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** The access handshake on dialled fd without blocking the event loop; closes fd and watcher on failure. */
export async function netGreetAsync(p: CsPath, fd: number, watcher: Watcher, signal?: AbortSignal): Promise<NetStream> {
  try {
    checkNetPath(p, 'open');
    if (hasRules(netServiceDir(p))) await driveAsync(clientAuth(fd, p.canonical), watcher, handshakeTimeout(), 'open', p.canonical, signal);
    const path = netPath(fd);
    remember(fd, path);
    return { fd, watcher, path, peer: peerId(fd, p.proto, true) };
  } catch (e) {
    watcher.close();
    close(fd);
    throw e;
  }
}

/** Connect to tcp/udp path `p` and run its access handshake, blocking this thread; a non-blocking fd. */
export function netOpenSync(p: CsPath, opts: NetOpenOptions = {}): number {
  checkNetPath(p, 'csopen');
  const q = plan(p, opts).q;
  return netGreetSync(q, netDialSync(q, opts));
}

/**
 * Open tcp/udp path `p`: a connected stream, or with CS_OPEN_CREATE the service's
 * listening socket (tcp) or bound datagram socket (udp). The caller owns the fd, blocking.
 */
export function netOpen(p: CsPath, flags = 0, opts: NetOpenOptions = {}): number {
  checkNetPath(p, 'csopen');
  return handOver(flags & CS_OPEN_CREATE ? netCreate(p) : netOpenSync(p, opts));
}

/** Connect to tcp/udp path `p` without blocking the event loop. */
export async function netOpenAsync(p: CsPath, opts: NetOpenOptions = {}): Promise<NetStream> {
  checkNetPath(p, 'open');
  const pl = plan(p, opts);
  const { q } = pl;
  const eps = targets(pl, await resolveHost(q.host, q.canonical));
  const { fd, watcher } = await connectFirstAsync(eps, (ep) => connectAsync(q.proto, ep, pl.deadline, pl.ms, opts.signal, q.canonical));
  return netGreetAsync(q, fd, watcher, opts.signal);
}
