// From a path string to the service's place in the namespace: parse, find the
// launch entry (its owner names the mount directory), compute the MountDir.
import { parsePath, type CsPath } from '../path';
import { mountDir, type MountDir } from '../namespace';
import { findLaunchEntry, type LaunchEntry } from '../launch/entry';
import { csError } from '../sys';

export interface Service {
  path: CsPath;
  md: MountDir;
  entry: LaunchEntry | null;
}

export function resolveService(path: string, syscall = 'csopen'): Service {
  const p = parsePath(path);
  if (p.service === null) throw csError('EISDIR', syscall, p.canonical, 'the path names a directory, not a service');
  if (p.proto !== 'fdp') throw csError('EPROTONOSUPPORT', syscall, p.canonical, `${p.proto} streams are not supported yet`);
  const entry = findLaunchEntry(p.proto, p.service);
  return { path: p, md: mountDir(p, entry ? entry.uid : null), entry };
}
