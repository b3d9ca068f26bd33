// Launch entries (SPEC 4): lib/cs/<proto>/<service>/{server,<service>.svc,hosts},
// found on $CS_PATH, then ../lib/cs beside each $PATH directory, then this package.
import { accessSync, constants as C, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface LaunchEntry {
  /** The directory lib/cs/<proto>/<service>. */
  dir: string;
  /** The executable to start. */
  server: string;
  /** libcs style: the server makes its own socket and daemonizes (<service>.svc). */
  svc: boolean;
  /** Owner of the entry: libcs's "sid", part of the mount directory name. */
  uid: number;
  /** Lines of the hosts file, or null when there is none. */
  hosts: string[] | null;
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

/** The lib/cs directories searched, in order. */
export function searchPath(): string[] {
  const dirs: string[] = [];
  for (const d of (process.env.CS_PATH ?? '').split(':')) if (d) dirs.push(join(d, 'lib', 'cs'));
  for (const d of (process.env.PATH ?? '').split(':')) if (d) dirs.push(join(dirname(resolve(d)), 'lib', 'cs'));
  dirs.push(PACKAGE_LIB);
  return [...new Set(dirs)];
}

function executable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, C.X_OK);
    return true;
  } catch {
    return false;
  }
}

function readHosts(dir: string): string[] | null {
  try {
    return readFileSync(join(dir, 'hosts'), 'utf8')
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean);
  } catch {
    return null;
  }
}

/** The first launch entry for a service, or null when none exists. */
export function findLaunchEntry(proto: string, service: string): LaunchEntry | null {
  for (const lib of searchPath()) {
    const dir = join(lib, proto, service);
    for (const [name, svc] of [['server', false], [`${service}.svc`, true]] as const) {
      const server = join(dir, name);
      if (executable(server)) return { dir, server, svc, uid: statSync(server).uid, hosts: readHosts(dir) };
    }
  }
  return null;
}
