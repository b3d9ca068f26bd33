// A path resolved once into the service every later step receives: the parsed
// path, its launch entry (the owner of a .svc names the mount directory) and the MountDir.
import { parsePath, type CsPath } from '../path';
import { mountDir, type MountDir } from '../namespace';
import { findService, type LaunchEntry } from '../namespace/entry';
import type * as NetServer from '../net/server';
import type * as NetService from '../net/service';
import { csError } from '../sys';

// tcp/udp paths only: resolving an fdp path never loads the net layer
const netServer = (): typeof NetServer => require('../net/server');
const netService = (): typeof NetService => require('../net/service');

export interface Service {
  path: CsPath;
  md: MountDir;
  entry: LaunchEntry | null;
  /** Resolved from a recent search that found no entry (resolveService's `reuseMiss`): search again before concluding anything from a failed open. */
  guessed?: boolean;
}

/** True for tcp and udp services: streams without the fdp rendezvous and without descriptor passing. */
export function isNet(s: Service): boolean {
  return s.path.proto !== 'fdp';
}

/**
 * Resolve `path`. `reuseMiss`: for an open that first tries a running server, a search
 * that found no entry less than MISS_MS ago stands (the open searches again if none answers).
 */
export function resolveService(path: string, syscall = 'csopen', reuseMiss = false): Service {
  const p = parsePath(path);
  if (p.service === null) throw csError('EISDIR', syscall, p.canonical, 'the path names a directory, not a service');
  const { entry, svc, reused } = findService(p.proto, p.service, reuseMiss);
  const guessed = reused === true;
  if (p.proto === 'fdp') return { path: p, md: mountDir(p, svc?.uid ?? null), entry, guessed };
  const checkNetPath: typeof NetService.checkNetPath = netService().checkNetPath;
  checkNetPath(p, syscall);
  return { path: p, md: netServer().netServerDir(p), entry, guessed };
}
