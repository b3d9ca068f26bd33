// Where a service may start (SPEC 4): the `hosts` file of its launch entry lists
// candidate hosts in order, first available wins. fdp services start only here;
// tcp/udp services start here (`local`) or on another host through the remote shell
// (net/remote.ts), and `share` (also what no hosts file means) is the live hosts,
// least loaded first. Hosts that cannot be used are skipped with a warning.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { csError, type CsError } from '../sys';
import { stepThrough, stepThroughAsync } from '../io';
import { isThisHost } from '../namespace';
import { formatPath } from '../path';
import type * as NetHosts from '../net/hosts';
import type * as Remote from '../net/remote';
import { csport } from '../port';
import type { LaunchEntry } from '../namespace/entry';
import { resolveService, type Service } from './service';

// tcp/udp services and other hosts only: an fdp service starting here loads neither
const netHosts = (): typeof NetHosts => require('../net/hosts');
const remote = (): typeof Remote => require('../net/remote');

/** Where to go on: `here` is the service to start on this host; `started` one another host started, to connect to. */
export type Place = { here: Service } | { started: Service };

/** The hosts file's entries ('#' starts a comment), or null when there is none. */
function readHosts(file: string): string[] | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  return text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
}

function hostsFileOf(entry: LaunchEntry): string {
  return join(entry.dir, 'hosts');
}

/**
 * Candidate hosts in order, 'local' for this host. The path's options decide first:
 * `local` starts here only, `remote` on the path's host through the remote shell
 * (even when that is this host), `share` on the least-loaded live host, then here,
 * whatever the hosts file says. fdp services start only here: `share` there, as no
 * hosts file, means here.
 */
function candidates(s: Service): string[] {
  const o = s.path.options;
  if (o.local) return ['local'];
  if (o.remote) return [s.path.host === 'local' ? hostname() : s.path.host!];
  const lines = o.share ? ['share', 'local'] : readHosts(hostsFileOf(s.entry!));
  if (s.path.proto !== 'fdp') return remote().expandHosts(lines).map((h) => (netHosts().isLocalHost(h) ? 'local' : h));
  return (lines ?? ['local']).map((h) => (h === 'local' || h === 'share' || isThisHost(h) ? 'local' : h));
}

function skip(s: Service, host: string, why: string, skipped: string[]): void {
  skipped.push(host);
  process.emitWarning(`${s.path.canonical}: skipping host '${host}' listed in ${hostsFileOf(s.entry!)}: ${why}`, 'CsWarning', 'CS_HOST_SKIPPED');
}

function unreachable(s: Service, skipped: string[]): CsError {
  return csError('EHOSTUNREACH', 'csopen', s.path.canonical, `no host in ${hostsFileOf(s.entry!)} can start the service (skipped: ${skipped.join(', ') || 'none listed'})`);
}

/** The service on this host: a path naming another host (or share) is started and reached here as `local`. */
function onThisHost(s: Service): Service {
  if (s.path.host !== null && isThisHost(s.path.host)) return s;
  return resolveService(formatPath({ ...s.path, host: 'local' }));
}

/** The service `host` started: reached at the port its `cs` reported, else at the service's own port. */
function startedOn(s: Service, host: string, port: number | null): Service {
  const p = s.path;
  const service = String(port ?? csport(p.proto as 'tcp' | 'udp', p.service!));
  return resolveService(formatPath({ ...p, host, service }));
}

/**
 * The walk over the candidate hosts, shared by the sync and async starters: it
 * yields each other host to start remotely and is resumed with the port that
 * host's `cs` reported, or thrown the error of that start (the host is then skipped).
 */
function* placing(s: Service): Generator<string, Place, number | null> {
  const skipped: string[] = [];
  for (const host of candidates(s)) {
    if (host === 'local') return { here: onThisHost(s) };
    if (s.path.proto === 'fdp') {
      skip(s, host, 'an fdp service can start only on this host', skipped);
      continue;
    }
    try {
      return { started: startedOn(s, host, yield host) };
    } catch (e) {
      skip(s, host, (e as Error).message, skipped);
    }
  }
  throw unreachable(s, skipped);
}

/** Pick where the service of `s` starts; another host is started on the way (blocking). */
export function startPlaceSync(s: Service): Place {
  return stepThrough(placing(s), (host) => remote().remoteStartSync(host, s.path));
}

/** startPlaceSync without blocking the event loop. */
export function startPlace(s: Service): Promise<Place> {
  return stepThroughAsync(placing(s), (host) => remote().remoteStart(host, s.path));
}
