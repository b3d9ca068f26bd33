// Launch entries (SPEC 4): lib/cs/<proto>/<service>/{server,<service>.svc,hosts},
// found on $CS_PATH, then ../lib/cs beside each $PATH directory, then this package.
// Every open looks the entry up (the owner of a .svc names the mount directory), so hits are cached.
import { accessSync, constants as C, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface LaunchEntry {
  /** The directory lib/cs/<proto>/<service>. */
  dir: string;
  /** The executable to start. */
  server: string;
  /** libcs style: the server makes its own socket and daemonizes (<service>.svc). */
  svc: boolean;
  /** Owner of the entry (for a .svc, libcs's "sid", part of the mount directory name). */
  uid: number;
}

/** This package's root: the nearest directory above this file with a package.json (src/ or dist/src/ alike). */
function packageRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(__dirname, '..', '..');
  }
}

/** This package's own lib/cs. */
export const PACKAGE_LIB = join(packageRoot(), 'lib', 'cs');

/** The directories of $CS_PATH, made absolute (a server started elsewhere must find the same entries). */
export function csPathDirs(): string[] {
  return (process.env.CS_PATH ?? '').split(':').filter(Boolean).map((d) => resolve(d));
}

/** What the search path is made of: the working directory (relative entries), $CS_PATH and $PATH. */
function searchEnv(): string {
  return `${process.cwd()}\0${process.env.CS_PATH ?? ''}\0${process.env.PATH ?? ''}`;
}

/** The search path last made, and what it was made of: every open asks for it. */
let made = { env: '', dirs: [] as readonly string[] };

/** The lib/cs directories searched, in order. */
export function searchPath(): readonly string[] {
  const env = searchEnv();
  if (made.env === env) return made.dirs;
  const dirs: string[] = [];
  for (const d of csPathDirs()) dirs.push(join(d, 'lib', 'cs'));
  for (const d of (process.env.PATH ?? '').split(':')) if (d) dirs.push(join(dirname(resolve(d)), 'lib', 'cs'));
  dirs.push(PACKAGE_LIB);
  made = { env, dirs: [...new Set(dirs)] };
  return made.dirs;
}

/** The owner of `file` if it is an executable regular file, else null (no exceptions: this runs on every open). */
function executableOwner(file: string): number | null {
  try {
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st?.isFile()) return null;
    accessSync(file, C.X_OK);
    return st.uid;
  } catch {
    return null;
  }
}

/** True for a directory we may look into; unreadable places on $PATH (another user's home) are skipped. */
function isDirectory(dir: string): boolean {
  try {
    return statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch {
    return false;
  }
}

/** What the search path holds for a service: the entry that starts it, and the first `.svc`. */
export interface Found {
  entry: LaunchEntry | null;
  /**
   * The first `<service>.svc` on the path, or null. libcs sees only these (not `server`),
   * so its owner is the sid of the mount directory whichever entry starts the service.
   */
  svc: LaunchEntry | null;
}

/** Search the path for the entry and the first .svc (a few stats per directory on it). */
function search(proto: string, service: string): Found {
  let entry: LaunchEntry | null = null;
  for (const lib of searchPath()) {
    const dir = join(lib, proto, service);
    if (!isDirectory(dir)) continue;
    for (const [name, svc] of [['server', false], [`${service}.svc`, true]] as const) {
      if (entry && !svc) continue;
      const server = join(dir, name);
      const uid = executableOwner(server);
      if (uid === null) continue;
      const e = { dir, server, svc, uid };
      if (svc) return { entry: entry ?? e, svc: e };
      entry = e;
    }
  }
  return { entry, svc: null };
}

/** True while a found file is still there: executable, same owner. */
function still(e: LaunchEntry | null): boolean {
  return e === null || executableOwner(e.server) === e.uid;
}

/** Searches done, with the search path they were done on; a hit costs a stat or two to confirm. */
const searched = new Map<string, { path: string; found: Found }>();
/** Searches that found nothing, and when (a miss has nothing to confirm but a search of every directory). */
const missed = new Map<string, { path: string; at: number }>();
/** How long an open of a running service trusts a miss (an open that finds none running searches again). */
export const MISS_MS = 1000;

/**
 * The launch entry of a service and its first `.svc` (either may be null). A search
 * done before is reused while what it found is still there and the search path is
 * unchanged: an entry added earlier on the path is seen by new processes. With
 * `reuseMiss`, a search that found nothing within MISS_MS is reused too (`reused`).
 */
export function findService(proto: string, service: string, reuseMiss = false): Found & { reused?: boolean } {
  const path = searchEnv();
  const key = `${proto}/${service}`;
  const hit = searched.get(key);
  if (hit && hit.path === path && still(hit.found.entry) && still(hit.found.svc)) return hit.found;
  const miss = missed.get(key);
  if (reuseMiss && miss && miss.path === path && Date.now() - miss.at < MISS_MS) return { entry: null, svc: null, reused: true };
  const found = search(proto, service);
  if (found.entry) searched.set(key, { path, found });
  else searched.delete(key);
  if (found.entry || found.svc) missed.delete(key);
  else missed.set(key, { path, at: Date.now() });
  return found;
}

/** The first launch entry for a service, or null when none exists. */
export function findLaunchEntry(proto: string, service: string): LaunchEntry | null {
  return findService(proto, service).entry;
}
