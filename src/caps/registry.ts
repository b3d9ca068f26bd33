// Finding registrations on disk: the services under <root>/fdp/<host>/<name>/
// whose perm directory names a key a lookup matches, whose server is alive, newest first.
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pidAlive, recordedPid, type MountDir } from '../namespace';
import { resolveService } from '../launch/service';
import { keyMatches, keyOfPermName, keyPath, type CapsKey } from './key';

function mountDirOf(key: CapsKey): MountDir {
  return resolveService(keyPath(key), 'caps_sys_client').md;
}

/** <root>/fdp/<host>/<name>: where every key of `name` has its perm directory. */
function serviceDir(name: string): string {
  return dirname(mountDirOf({ name, uid: -1, gid: -1 }).dir);
}

/** Registered keys answering `query`, the most recently registered first. */
export function findRegistrations(query: CapsKey): CapsKey[] {
  const dir = serviceDir(query.name);
  let perms: string[];
  try {
    perms = readdirSync(dir);
  } catch {
    return [];
  }
  const found: { key: CapsKey; since: number }[] = [];
  for (const perm of perms) {
    const key = keyOfPermName(query.name, perm);
    if (!key || !keyMatches(query, key)) continue;
    const md = mountDirOf(key);
    if (md.dir !== join(dir, perm)) continue; // another launch entry's instance, or not the canonical spelling
    let since: number;
    try {
      since = lstatSync(md.socket).ctimeMs;
    } catch {
      continue;
    }
    const pid = recordedPid(md);
    if (pid !== null && !pidAlive(pid)) continue;
    found.push({ key, since });
  }
  return found.sort((a, b) => b.since - a.since).map((f) => f.key);
}

/**
 * The directories in which a change can bring a registration for one of `queries`:
 * the deepest existing level above the keys, and each matching key's own directory.
 */
export function registrationDirs(queries: CapsKey[]): string[] {
  const name = queries[0]!.name;
  let dir = serviceDir(name);
  let perms: string[] = [];
  try {
    perms = readdirSync(dir);
  } catch {
    while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  }
  const keyDirs = perms.filter((perm) => {
    const key = keyOfPermName(name, perm);
    return key !== null && queries.some((q) => keyMatches(q, key));
  });
  return [dir, ...keyDirs.map((perm) => join(dir, perm))];
}
