// The idiomatic async entry points: open() a service as a Connection, listen() on one.
import { setNonBlocking, type CsError, type Watcher } from '../sys';
import { Connection } from './connection';
import { createListener } from './listen';
import { Listener } from './listener';
import { loadStart, notRunning, notRunningError, openAsync } from './open';
import { resolveService } from './resolve';

export interface OpenOptions {
  signal?: AbortSignal;
}

/** Connect to the service `path` without blocking the event loop, starting it as csopen does. */
export async function open(path: string, opts: OpenOptions = {}): Promise<Connection> {
  const s = resolveService(path, 'open');
  let opened: { fd: number; watcher: Watcher };
  try {
    opened = await openAsync(s, opts.signal);
  } catch (e) {
    if (!notRunning(e)) throw e;
    const start = loadStart();
    if (!start.mayStart(s)) throw notRunningError(s, e as CsError);
    opened = await start.openStarting(s, opts.signal);
  }
  return new Connection(opened.fd, s.path.canonical, opened.watcher);
}

/** Create the service `path` and accept its connections. */
export async function listen(path: string): Promise<Listener> {
  const s = resolveService(path, 'listen');
  const fd = createListener(s, true);
  setNonBlocking(fd, true);
  return new Listener(fd, s.path.canonical, s.md);
}
