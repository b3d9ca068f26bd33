// Where a service may start (SPEC 4): the `hosts` file of its launch entry lists
// candidate hosts in order, first available wins. Only this host can start a
// server for now; remote and `share` entries are skipped with a warning.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { csError } from '../sys';
import { isThisHost } from '../namespace';
import type { LaunchEntry } from './entry';

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

/** Throw unless the entry lets the service start on this host; warn about each entry skipped on the way. */
export function checkStartsHere(entry: LaunchEntry, path: string): void {
  const file = join(entry.dir, 'hosts');
  const hosts = readHosts(file);
  // no hosts file means `share` then `local`: share is not implemented, so local
  if (hosts === null) return;
  const skipped: string[] = [];
  for (const host of hosts) {
    if (host === 'local' || isThisHost(host)) return;
    const why = host === 'share'
      ? 'starting on the network file servers (share) is not supported yet'
      : 'starting a service on another host is not supported yet';
    skipped.push(host);
    process.emitWarning(`${path}: skipping host '${host}' listed in ${file}: ${why}`, 'CsWarning', 'CS_HOST_SKIPPED');
  }
  throw csError('EHOSTUNREACH', 'csopen', path, `no host in ${file} can start the service here (skipped: ${skipped.join(', ') || 'none listed'})`);
}
