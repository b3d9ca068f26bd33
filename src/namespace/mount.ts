// Where a service lives on disk (SPEC 3): the libcs layout
// <root>/<proto>/<host>/<service>/<perm>/{S,P,L,O,X}-cs.mnt, built safely.
import { chmodSync, closeSync, constants as C, fchmodSync, fchownSync, fstatSync, lstatSync, mkdirSync, openSync, unlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { csError, type CsError } from '../sys';
import { qualifierName, type CsPath } from '../path';
import { hostDirName, isThisHost } from './host';
import { ownerName, resolveGid, resolveUid } from './ids';
import { trustedDir, type ServedBy } from './trust';

export const DEFAULT_ROOT = '/tmp/cs';

/** The namespace root: $CS_MOUNT_LOCAL, else /tmp/cs. */
export function mountRoot(): string {
  return process.env.CS_MOUNT_LOCAL || DEFAULT_ROOT;
}

export interface MountDir extends ServedBy {
  /** The canonical cs path this directory serves. */
  path: string;
  /** <root>/<proto>/<host>/<service>/<perm> */
  dir: string;
  socket: string;
  pidLink: string;
  log: string;
  oldLog: string;
  lock: string;
}

/** Owner of the service's `<service>.svc` launch entry (libcs's "sid"), or null when none was found. */
export type Sid = number | null;

/**
 * The <perm> directory name, as libcs makes it: "<sid>-" or "-", then "<uid>-" for
 * `user` (a `group` beside it is not named), else "-<gid>", else "-"; then "-<qualifier>"
 * for each qualifier, by name (`b=1` is `b`).
 */
export function permName(sid: Sid, uid: number | null, gid: number | null, qualifiers: readonly string[], tcpOther = false): string {
  let name = sid === null ? '-' : `${sid}-`;
  if (uid !== null) name += `${uid}-`;
  else if (gid !== null) name += `-${gid}`;
  else name += '-';
  for (const q of qualifiers) name += `-${qualifierName(q)}`;
  return tcpOther ? name + '#' : name;
}

/**
 * libcs's sid: the uid of `trust=<uid>`; none for `trust` alone (it also stops the
 * launch entry from naming one); else the owner of the `<service>.svc` found.
 */
function sidOf(p: CsPath, svcOwner: Sid): Sid {
  const trust = p.options.trust;
  if (trust === null) return svcOwner;
  return trust === '' ? null : resolveUid(trust, p.canonical);
}

/** Mode of S-cs.mnt, as libcs gives it: the owner's for `user`, the group's for `group`, else everyone's. */
export function socketMode(md: Pick<MountDir, 'uid' | 'gid'>): number {
  return md.uid !== null ? 0o700 : md.gid !== null ? 0o770 : 0o777;
}

/**
 * Compute the mount directory of a parsed service path (no I/O beyond id lookups);
 * `svcOwner` is the owner of the service's `<service>.svc`, or null.
 */
export function mountDir(p: CsPath, svcOwner: Sid): MountDir {
  if (p.host === null || p.service === null) {
    throw csError('EISDIR', 'csopen', p.canonical, 'the path names a directory, not a service');
  }
  if (p.proto === 'fdp' && !isThisHost(p.host)) {
    throw csError('ENODEV', 'csopen', p.canonical, `fdp streams are local: host '${p.host}' is not this machine`);
  }
  const uid = p.options.user === null ? null : resolveUid(p.options.user, p.canonical);
  const gid = p.options.group === null ? null : resolveGid(p.options.group, p.canonical);
  const trust = p.options.trust === null ? null : resolveUid(p.options.trust, p.canonical);
  const host = isThisHost(p.host) ? hostDirName() : p.host;
  const sid = sidOf(p, svcOwner);
  const perm = permName(sid, uid, gid, p.qualifiers, p.proto !== 'fdp' && uid === null && gid === null);
  const dir = join(mountRoot(), p.proto, host, p.service, perm);
  const f = (n: string) => join(dir, n);
  return {
    path: p.canonical, dir, uid, gid, trust, sid,
    socket: f('S-cs.mnt'), pidLink: f('P-cs.mnt'), log: f('L-cs.mnt'), oldLog: f('O-cs.mnt'), lock: f('X-cs.mnt'),
  };
}

function unsafe(dir: string, path: string, why: string): CsError {
  return csError('EPERM', 'csopen', path, `refusing namespace directory ${dir}: ${why}`);
}

/** Everyone may rename entries in it: world-writable without the sticky bit (how libcs makes the shared levels). */
function openToAll(mode: number): boolean {
  return (mode & 0o002) !== 0 && (mode & 0o1000) === 0;
}

/**
 * Check one existing namespace directory without following links: it must be a
 * real directory, and not one another (non-root) user owns while everyone can
 * rename entries in it. A client passing through a shared level (`passThrough`)
 * accepts such a level, as libcs makes them: the perm directory below is what it checks.
 */
function checkDir(dir: string, path: string, passThrough = false): Stats {
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) throw unsafe(dir, path, 'it is a symbolic link');
  if (!st.isDirectory()) throw csError('ENOTDIR', 'csopen', path, `${dir} is not a directory`);
  // our own euid last: asked only of the rare level open to all (a system call each time)
  if (!passThrough && st.uid !== 0 && openToAll(st.mode) && st.uid !== process.geteuid!()) {
    throw unsafe(dir, path, `owned by uid ${st.uid} and writable by everyone without the sticky bit (its owner or root can chmod +t it)`);
  }
  return st;
}

/** Set the sticky bit on a shared level libcs made 0777, when it is ours or we are root, before creating in it. */
function makeSticky(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  } catch {
    return; // checkDir reports what it is
  }
  try {
    const st = fstatSync(fd);
    const me = process.geteuid!();
    if (openToAll(st.mode) && (st.uid === me || me === 0)) fchmodSync(fd, (st.mode & 0o7777) | 0o1000);
  } finally {
    closeSync(fd);
  }
}

/** Create (or check) one directory level with an exact mode, never through a link; true when it was created. */
function ensureDir(dir: string, mode: number, path: string, owner?: { uid: number | null; gid: number | null }): boolean {
  let created = false;
  try {
    mkdirSync(dir, { mode: 0o700 });
    created = true;
  } catch (e) {
    if ((e as CsError).code !== 'EEXIST') throw e;
  }
  if (!created) {
    if (mode & 0o1000) makeSticky(dir);
    checkDir(dir, path);
    return false;
  }
  // Fix mode and owner through an fd of the directory itself: umask cannot trim it and no link can redirect it.
  const fd = openSync(dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  try {
    if (owner && (owner.uid !== null || owner.gid !== null) && process.geteuid!() === 0) {
      fchownSync(fd, owner.uid ?? -1, owner.gid ?? -1);
    }
    fchmodSync(fd, mode);
    if (!fstatSync(fd).isDirectory()) throw unsafe(dir, path, 'not a directory');
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Create the namespace root if needed: world-writable and sticky, like /tmp. */
export function ensureRoot(path?: string): string {
  const root = mountRoot();
  try {
    if (mkdirSync(root, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(root, 0o1777);
  } catch (e) {
    throw csError((e as CsError).code ?? 'EIO', 'csopen', path, `cannot create namespace root ${root}`);
  }
  return root;
}

/**
 * An existing perm directory may hold `md`'s server only when its owner may serve
 * it (README "Who may serve a service"). Root takes over one another user made:
 * it becomes the service's (or root's) with the service's mode, and the sockets,
 * records, logs and lock that user left are removed. Anyone else gets EACCES.
 */
function claimPermDir(md: MountDir, mode: number): void {
  const fd = openSync(md.dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (trustedDir(md, st)) return;
    if (process.geteuid!() !== 0) {
      throw csError('EACCES', 'csopen', md.path, `${md.dir} is owned by ${ownerName(st.uid)}, who may not serve this service for you: remove it, or let root serve it`);
    }
    fchownSync(fd, md.uid ?? 0, md.gid ?? 0);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
  for (const file of [md.socket, md.pidLink, md.lock, md.log, md.oldLog]) removeIfPresent(file);
}

/**
 * Create the directory chain of a service (server side). Levels above the
 * service are shared by everyone, like /tmp (sticky, so nobody can rename
 * another's entry); the perm directory is private for `user`, group-shared for
 * `group`, and one that exists already must be one its owner may serve from.
 */
export function createMountDir(md: MountDir): void {
  const root = ensureRoot(md.path);
  const rel = md.dir.slice(root.length + 1).split('/');
  let dir = root;
  for (let i = 0; i < rel.length; i++) {
    dir = join(dir, rel[i]);
    if (i < rel.length - 1) {
      ensureDir(dir, 0o1777, md.path);
      continue;
    }
    const mask = process.umask();
    const mode = md.uid !== null ? 0o700 : md.gid !== null ? 0o2770 : 0o777 & ~mask;
    if (!ensureDir(dir, mode, md.path, { uid: md.uid, gid: md.gid })) claimPermDir(md, mode);
  }
}

/**
 * Check the directory chain of a service without creating anything (client side):
 * false when it does not exist; EPERM when a level is unsafe or the perm directory
 * belongs to a user who may not serve this client.
 */
export function checkMountDir(md: MountDir): boolean {
  const root = mountRoot();
  const rel = md.dir.slice(root.length + 1).split('/');
  let dir = root;
  let st!: Stats; // the last level checked: md.dir itself
  try {
    rel.forEach((part, i) => {
      dir = join(dir, part);
      st = checkDir(dir, md.path, i < rel.length - 1);
    });
  } catch (e) {
    if ((e as CsError).code === 'ENOENT') return false;
    throw e;
  }
  if (!trustedDir(md, st)) throw unsafe(md.dir, md.path, `owned by ${ownerName(st.uid)}, who may not serve ${md.path} for ${ownerName(process.geteuid!())}`);
  return true;
}

export function removeIfPresent(file: string): void {
  try {
    unlinkSync(file);
  } catch (e) {
    if ((e as CsError).code !== 'ENOENT') throw e;
  }
}
