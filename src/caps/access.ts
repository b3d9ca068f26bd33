// Who may register a key, which clients a service admits, and whether the process
// behind a socket may serve the key it claims: all decided on kernel credentials.
import type { CsId } from '../stream';
import { senderId } from '../stream/record';
import { csError, type MsgCred } from '../sys';
import { CAPF_GROUP, CAPF_USER, CAPF_WORLD, CAPS_MAXGROUPS, type CapsCred } from './constants';
import { keyPath, type CapsKey } from './key';

function inGroup(gid: number, id: { gid: number; groups: readonly number[] }): boolean {
  return id.gid === gid || id.groups.includes(gid);
}

/** Registering a uid or gid this process does not hold is EPERM, unless it is root (as in the kernel). */
export function checkRegistrationRights(key: CapsKey, syscall: string): void {
  const self = { uid: process.geteuid!(), gid: process.getegid!(), groups: process.getgroups!() };
  if (self.uid === 0) return;
  if (key.uid !== -1 && key.uid !== self.uid) {
    throw csError('EPERM', syscall, keyPath(key), `uid ${self.uid} may not register a service for uid ${key.uid}`);
  }
  if (key.gid !== -1 && !inGroup(key.gid, self)) {
    throw csError('EPERM', syscall, keyPath(key), `uid ${self.uid} is not in group ${key.gid}`);
  }
}

/**
 * The kernel's rule: a client is admitted when both sides allow USER and the uids
 * match, or both allow GROUP and the client is in the service's group, or both allow WORLD.
 */
export function admits(serviceFlags: number, key: CapsKey, clientFlags: number, client: CsId): boolean {
  const both = serviceFlags & clientFlags;
  if (both & CAPF_WORLD) return true;
  if (both & CAPF_USER && key.uid !== -1 && key.uid === client.uid) return true;
  return (both & CAPF_GROUP) !== 0 && key.gid !== -1 && inGroup(key.gid, client);
}

/** Could the process that owns the listening socket have registered `key`? Guards against squatters. */
export function mayServe(key: CapsKey, server: CsId): boolean {
  if (server.uid === 0) return true;
  return (key.uid === -1 || key.uid === server.uid) && (key.gid === -1 || inGroup(key.gid, server));
}

/** The caps_cred of a connection's peer. */
export function credOf(id: CsId): CapsCred {
  return { pid: id.pid, uid: id.uid, euid: id.uid, gid: id.gid, groups: id.groups.slice(0, CAPS_MAXGROUPS) };
}

/**
 * The caps_cred of one message: its writer as the kernel recorded it (SCM_CREDENTIALS),
 * which is `conn` (whose caps_cred is `connCred`) unless another process wrote on the
 * connection; `conn` when the kernel attached nothing.
 */
export function messageCred(writer: MsgCred | null, conn: CsId, connCred: CapsCred): CapsCred {
  if (!writer || (writer.pid === conn.pid && writer.uid === conn.uid && writer.gid === conn.gid)) return connCred;
  return credOf(senderId(writer, () => conn));
}
