// Reading the namespace back: every service directory under the root as a typed
// record (what `cs -l/-m/-p/-s` print), and whether the server recorded for it still runs.
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { parsePath, type Proto } from '../path';
import { hostDirName, isThisHost } from './host';
import { recordedServer } from './record';
import { mountDir, mountRoot, type MountDir } from './mount';

export interface ServiceEntry {
  proto: Proto;
  /** The host directory name (this host's is hostDirName()). */
  host: string;
  service: string;
  /** The <perm> directory name, e.g. `--`, `-0-`, `0---staging`. */
  perm: string;
  /** Owner of the launch entry the directory was made for, or null. */
  sid: number | null;
  /** The canonical cs path that opens this service. */
  path: string;
  /** <root>/<proto>/<host>/<service>/<perm> */
  dir: string;
  /** S-cs.mnt is present. */
  socket: boolean;
  /** The pid P-cs.mnt records, or null. */
  pid: number | null;
  /** That pid is still the server: alive, and started before it was recorded. */
  alive: boolean;
  /** Owner, group and permission bits (with setgid/sticky) of the perm directory. */
  uid: number;
  gid: number;
  mode: number;
}

/**
 * <sid>- then <uid>- | -<gid> | - then -<qualifiers> then # (tcp/udp `other`).
 * Qualifiers are kept as one text: `a-b` and `a/b` name the same directory.
 */
const PERM = /^(?:(\d+))?-(?:(\d+)-|-(\d+)|-)(?:-([A-Za-z0-9_.+-]+))?#?$/u;

/** Names of the real directories (never links) in `dir`; none when it cannot be read. */
function subdirs(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => lstatOrNull(join(dir, n))?.isDirectory()).sort();
}

function lstatOrNull(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}

/** The mount directory a cs path would use for <proto>/<host>/<service>/<perm>, or null when none does. */
function serviceOf(proto: Proto, host: string, service: string, perm: string): { md: MountDir; sid: number | null } | null {
  const m = PERM.exec(perm);
  if (!m) return null;
  const [, sid, uid, gid, qualifiers] = m;
  let text = `/dev/${proto}/${isThisHost(host) ? 'local' : host}/${service}`;
  if (uid !== undefined) text += `/user=${uid}`;
  if (gid !== undefined) text += `/group=${gid}`;
  if (qualifiers !== undefined) text += `/${qualifiers}`;
  const sidNum = sid === undefined ? null : Number(sid);
  try {
    const md = mountDir(parsePath(text), sidNum);
    // only a directory that cs itself would compute for that path belongs to it
    return md.dir === join(mountRoot(), proto, host, service, perm) ? { md, sid: sidNum } : null;
  } catch {
    return null;
  }
}

/**
 * Every service directory in the namespace, sorted by path. `under` limits the
 * list to a protocol, a host or a service: `/dev/fdp`, `/dev/fdp/local`,
 * `/dev/fdp/local/echo` (options in it are ignored). Directories that no cs path
 * maps to, and symbolic links, are skipped.
 */
export function listServices(under?: string): ServiceEntry[] {
  const filter = under === undefined ? null : parsePath(under);
  const root = mountRoot();
  const hostDir = filter?.host == null ? null : isThisHost(filter.host) ? hostDirName() : filter.host;
  const entries: ServiceEntry[] = [];
  // an unknown protocol directory fails parsePath in serviceOf and is skipped there
  for (const proto of subdirs(root) as Proto[]) {
    if (filter && filter.proto !== proto) continue;
    for (const host of subdirs(join(root, proto))) {
      if (hostDir !== null && host !== hostDir) continue;
      for (const service of subdirs(join(root, proto, host))) {
        if (filter?.service != null && service !== filter.service) continue;
        for (const perm of subdirs(join(root, proto, host, service))) {
          const found = serviceOf(proto, host, service, perm);
          const st = found && lstatOrNull(found.md.dir);
          if (!found || !st) continue;
          const { md, sid } = found;
          entries.push({
            proto, host, service, perm, sid, path: md.path, dir: md.dir,
            socket: lstatOrNull(md.socket) !== null,
            ...recordedServer(md),
            uid: st.uid, gid: st.gid, mode: st.mode & 0o7777,
          });
        }
      }
    }
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.dir < b.dir ? -1 : 1));
}
