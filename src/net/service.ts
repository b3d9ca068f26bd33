// A tcp/udp path as a service: checked for what network streams need, with its
// mount directory (where its namespace record lives) and its port (SPEC 2).
import { csError, type CsError } from '../sys';
import { mountDir, type MountDir } from '../namespace';
import { csport } from '../port';
import { formatPath, type CsPath } from '../path';
import { findService } from '../namespace/entry';
import type { NetProto } from './socket';

/** A tcp/udp path that names a service. */
export type NetPath = CsPath & { proto: NetProto; host: string; service: string };

/** Throw unless `p` is a tcp/udp path naming a service with options network streams support. */
export function checkNetPath(p: CsPath, syscall: string): asserts p is NetPath {
  if (p.proto === 'fdp') throw csError('EINVAL', syscall, p.canonical, 'not a tcp or udp path');
  if (p.host === null || p.service === null) throw csError('EISDIR', syscall, p.canonical, 'the path names a directory, not a service');
  if (p.proto === 'udp' && (p.options.user !== null || p.options.group !== null)) {
    throw csError('EINVAL', syscall, p.canonical, 'user and group need the tcp access handshake; udp datagrams have none');
  }
}

/** The mount directory of `p` (named after the owner of its .svc, as for fdp). */
export function netServiceDir(p: CsPath): MountDir {
  return mountDir(p, findService(p.proto, p.service!).svc?.uid ?? null);
}

/** `p` with another host (what a `share` path means once its host is chosen). */
export function onHost(p: NetPath, host: string): NetPath {
  const q = { ...p, host };
  return { ...q, canonical: formatPath(q) };
}

/** The service's port; errors (port 0, unknown inet.name) carry the cs path. */
export function portOf(p: NetPath): number {
  try {
    return csport(p.proto, p.service);
  } catch (e) {
    const err = e as CsError;
    throw csError(err.code, 'csopen', p.canonical, err.message.replace(/^[^:]*: [^,]*, csport: /u, ''));
  }
}

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}
