// The namespace record of a tcp/udp service (SPEC 3): S-cs.mnt is a symlink to
// /dev/<proto>/<address>/<port> naming where the server really listens ([::] or 0.0.0.0
// when it listens on every address of its host), P-cs.mnt its pid. Clients read it
// first, so a server that had to leave its hashed port is still found.
import { readlinkSync, symlinkSync } from 'node:fs';
import { checkMountDir, isThisHost, pidAlive, recordedPid, recordPid, removeIfPresent, type MountDir } from '../namespace';
import type { CsPath } from '../path';
import { addressHost, literalAddress } from './hosts';
import type { Endpoint } from './identity';

/** Record that this process serves `md` at `ep`, replacing any older record. */
export function writeRecord(md: MountDir, proto: string, ep: Endpoint): void {
  removeIfPresent(md.socket);
  symlinkSync(`/dev/${proto}/${addressHost(ep.address)}/${ep.port}`, md.socket);
  recordPid(md, process.pid);
}

/** The endpoint recorded in `md`, or null when there is no usable record. */
export function readRecord(md: MountDir, proto: string): Endpoint | null {
  let target: string;
  try {
    target = readlinkSync(md.socket);
  } catch {
    return null;
  }
  const m = new RegExp(`^/dev/${proto}/([^/]+)/(\\d+)$`, 'u').exec(target);
  const address = m ? literalAddress(m[1]) : null;
  const port = m ? Number(m[2]) : 0;
  if (address === null || port < 1 || port > 65535) return null;
  return { address, port };
}

/**
 * The endpoint a client should try first for `p`, from its record, or null. On
 * this host a record whose server pid is dead is stale and skipped; for another
 * host (a namespace shared between hosts) the pid cannot be checked here.
 */
export function recordedEndpoint(p: CsPath, md: MountDir): Endpoint | null {
  if (!checkMountDir(md)) return null;
  const ep = readRecord(md, p.proto);
  if (ep === null || !isThisHost(p.host!)) return ep;
  const pid = recordedPid(md);
  return pid !== null && pidAlive(pid) ? ep : null;
}

/** The pid of a live server recorded in `md` other than this process, or null. */
export function liveServer(md: MountDir): number | null {
  const pid = recordedPid(md);
  return pid !== null && pid !== process.pid && pidAlive(pid) ? pid : null;
}
