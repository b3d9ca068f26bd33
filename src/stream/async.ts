// The idiomatic async entry points: open() a service as a Connection, listen() on one.
import { setNonBlocking, type CsError } from '../sys';
import { Connection } from './connection';
import { createListener } from './listen';
import { Listener } from './listener';
import { notRunning, notRunningError, openAsync } from './open';
import { resolveService } from './resolve';

export interface OpenOptions {
  signal?: AbortSignal;
}

/** Connect to the service `path` without blocking the event loop. */
export async function open(path: string, opts: OpenOptions = {}): Promise<Connection> {
  const s = resolveService(path, 'open');
  try {
    const { fd, watcher } = await openAsync(s, opts.signal);
    return new Connection(fd, s.path.canonical, watcher);
  } catch (e) {
    if (notRunning(e)) throw notRunningError(s, e as CsError);
    throw e;
  }
}

/** Create the service `path` and accept its connections. */
export async function listen(path: string): Promise<Listener> {
  const s = resolveService(path, 'listen');
  const fd = createListener(s, true);
  setNonBlocking(fd, true);
  return new Listener(fd, s.path.canonical, s.md);
}
