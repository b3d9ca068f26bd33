// The libcs id record (SPEC 5): every cssend is one sendmsg of 32 bytes
// {hid=0, pid, euid, egid} as little-endian u64, with SCM_RIGHTS [auth fd, fds...];
// between two cs processes that said so, the cs form: hid 'cs', no auth fd.
// The receiver trusts only the kernel: it checks the record and the auth file's
// owner against the sender's credentials the kernel attached to this very message
// (SCM_CREDENTIALS; SO_PEERCRED when it attached none; the cs form only with them)
// and closes everything it received on any doubt.
import { closeSync, constants as C, fchmodSync, fstatSync, openSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  csError, errnoError, closeAll, sendFds, recvFds, peerCred, peerGroups, memfd, MAX_FDS_PER_MSG, EAGAIN, MSG_DONTWAIT,
  type CsError, type MsgCred, type Received,
} from '../sys';
import { AGAIN } from '../io';
import { ensureRoot } from '../namespace';
import { forgetAll } from './registry';
import type { CsId } from './flags';

export const RECORD_SIZE = 32;

let auth: { pid: number; fd: number } | null = null;

/** This process's auth descriptor: an unlinked mode-06400 file in the namespace root. */
function authFd(): number {
  if (auth && auth.pid === process.pid) return auth.fd;
  let fd: number;
  try {
    const root = ensureRoot();
    const file = join(root, `.auth-${process.pid}-${Date.now()}`);
    fd = openSync(file, C.O_RDONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o400);
    unlinkSync(file);
  } catch {
    // a read-only or foreign root: an anonymous file proves ownership just as well
    fd = memfd('cs-auth');
  }
  fchmodSync(fd, 0o6400);
  auth = { pid: process.pid, fd };
  return fd;
}

/**
 * The hid of a record between two cs processes (the libcs record's is 0): it carries no
 * auth descriptor, only the payload, and the receiver takes the sender's identity from
 * the credentials the kernel attached to it, refusing the record when there are none.
 * A cs process sends it only to a peer that said it speaks cs (a cs server's greeting,
 * a record of this form), and only with descriptors, which mark a record in the bytes.
 */
const CS_HID = 0x6373n; // 'cs'
const CS_HID_LOW = Number(CS_HID);

let records: { pid: number; libcs: Uint8Array; cs: Uint8Array } | null = null;

/** This process's id record, in the libcs or the cs form. */
function ownRecord(cs: boolean): Uint8Array {
  if (records?.pid !== process.pid) {
    const make = (hid: bigint) => {
      const rec = new Uint8Array(RECORD_SIZE);
      const v = new DataView(rec.buffer);
      v.setBigUint64(0, hid, true);
      v.setBigUint64(8, BigInt(process.pid), true);
      v.setBigUint64(16, BigInt(process.geteuid!()), true);
      v.setBigUint64(24, BigInt(process.getegid!()), true);
      return rec;
    };
    records = { pid: process.pid, libcs: make(0n), cs: make(CS_HID) };
  }
  return cs ? records.cs : records.libcs;
}

function checkFds(fds: readonly number[], path?: string): void {
  if (!Array.isArray(fds)) throw Object.assign(new TypeError('fds must be an array of descriptors'), { code: 'ERR_INVALID_ARG_TYPE' });
  if (fds.length > MAX_FDS_PER_MSG - 1) throw csError('EINVAL', 'cssend', path, `at most ${MAX_FDS_PER_MSG - 1} descriptors per message, got ${fds.length}`);
  for (const fd of fds) {
    if (!Number.isInteger(fd) || fd < 0) throw csError('EBADF', 'cssend', path, `'${fd}' is not a descriptor`);
  }
}

/**
 * What one record carrying `fds` sends: this process's id record and [auth fd, ...fds]
 * (the auth fd stays this process's), or, to a peer that speaks cs (`cs`), the cs form
 * with the payload alone.
 */
export function recordMessage(fds: readonly number[], path?: string, cs = false): { data: Uint8Array; fds: readonly number[] } {
  checkFds(fds, path);
  return cs ? { data: ownRecord(true), fds } : { data: ownRecord(false), fds: [authFd(), ...fds] };
}

/** Send one record with `fds` (in the cs form when `cs`); AGAIN when the socket buffer is full (whatever the fd's mode). */
export function trySendRecord(fd: number, fds: readonly number[], path?: string, cs = false): typeof AGAIN | void {
  const m = recordMessage(fds, path, cs);
  const n = sendFds(fd, m.data, m.fds, MSG_DONTWAIT);
  if (n === -EAGAIN) return AGAIN;
  if (n < 0) throw errnoError(-n, 'cssend', path);
  if (n !== RECORD_SIZE) throw csError('EIO', 'cssend', path, `short send of the id record (${n} of ${RECORD_SIZE} bytes)`);
}

/**
 * The connection's identity; `uncredited`: asked for a message the kernel attached no
 * credentials to, whose socket then lacks SO_PASSCRED, which every stream cs made has.
 */
export type PeerOf = (uncredited: boolean) => CsId;

export interface RecordIn {
  id: CsId;
  fds: number[];
  /** It came in the cs form: the peer speaks cs. */
  cs: boolean;
}

const inBuf = new Uint8Array(RECORD_SIZE);
const inView = new DataView(inBuf.buffer);

function reject(fds: readonly number[], code: string, path: string | undefined, detail: string): CsError {
  closeAll(fds);
  return csError(code, 'csrecv', path, detail);
}

/** A record was awaited but the peer closed the stream. */
export function peerClosed(path?: string): CsError {
  return csError('ECONNRESET', 'csrecv', path, 'peer closed the stream');
}

/**
 * Receive one record, keeping at most `max` payload descriptors; AGAIN when
 * nothing is there yet. `peer()` is the kernel's identity of the connection.
 */
export function tryRecvRecord(fd: number, max: number, path: string | undefined, peer: PeerOf): RecordIn | typeof AGAIN {
  const r = recvFds(fd, inBuf, max + 1, MSG_DONTWAIT);
  if (r.n === -EAGAIN) return AGAIN;
  if (r.n < 0) throw errnoError(-r.n, 'csrecv', path);
  return checkRecord(r, inBuf, max, path, peer);
}

/**
 * Accept `r`, a received message whose bytes are `bytes` (its first r.n), as a record
 * with at most `max` payload descriptors from the peer `peer()`, or throw after
 * closing every descriptor that came with it. The caller owns the returned fds.
 */
export function checkRecord(r: Received, bytes: Uint8Array, max: number, path: string | undefined, peer: PeerOf): RecordIn {
  forgetAll(r.fds);
  if (r.fds.length > max + 1) throw reject(r.fds, 'EMSGSIZE', path, `peer sent more than the ${max} descriptor(s) allowed; all closed`);
  if (r.truncated) throw reject(r.fds, 'EMSGSIZE', path, `descriptors did not fit (more than the ${max} allowed, or none left in this process); all closed`);
  if (r.n === 0) {
    closeAll(r.fds);
    throw peerClosed(path);
  }
  if (r.n !== RECORD_SIZE) throw reject(r.fds, 'EPROTO', path, `expected a ${RECORD_SIZE}-byte id record, got ${r.n} byte(s)`);
  const v = bytes === inBuf ? inView : new DataView(bytes.buffer, bytes.byteOffset, RECORD_SIZE);
  // u64 fields read as halves: no BigInt per record (a uid is below 2^32; a high half makes it no uid)
  const claimed = v.getUint32(20, true) === 0 ? v.getUint32(16, true) : -1;
  if (v.getUint32(4, true) === 0 && v.getUint32(0, true) === CS_HID_LOW) {
    // no auth file: the kernel's word for this very message is the only proof
    if (!r.cred) throw reject(r.fds, 'EPERM', path, 'a cs record the kernel attached no credentials to');
    if (r.fds.length > max) throw reject(r.fds, 'EMSGSIZE', path, `peer sent more than the ${max} descriptor(s) allowed; all closed`);
    const id = senderId(r.cred, peer);
    if (claimed !== id.uid) throw reject(r.fds, 'EPERM', path, `peer claims uid ${claimed} but the kernel says ${id.uid}`);
    return { id, fds: r.fds.slice(), cs: true };
  }
  if (r.fds.length === 0) throw reject(r.fds, 'EPROTO', path, 'id record without its auth descriptor');
  const id = senderId(r.cred, peer);
  let owner: number;
  try {
    const st = fstatSync(r.fds[0]);
    owner = st.isFile() ? st.uid : -1;
  } catch {
    owner = -1;
  }
  if (claimed !== id.uid || owner !== id.uid) {
    throw reject(r.fds, 'EPERM', path, `peer claims uid ${claimed} (auth file uid ${owner}) but the kernel says ${id.uid}`);
  }
  closeSync(r.fds[0]);
  return { id, fds: r.fds.slice(1), cs: false };
}

/**
 * Who sent a message: the credentials the kernel attached to it, or the connection's
 * identity when it attached none. Supplementary groups exist only per connection
 * (SO_PEERGROUPS, of whoever created the socket): they are kept when the sender has
 * the connection's uid and gid, and unknown (empty) otherwise.
 */
export function senderId(cred: MsgCred | null, peer: PeerOf): CsId {
  if (!cred) return peer(true);
  const conn = peer(false);
  if (conn.pid === cred.pid && conn.uid === cred.uid && conn.gid === cred.gid) return conn;
  const groups = conn.uid === cred.uid && conn.gid === cred.gid ? conn.groups : [];
  return { hid: 0, pid: cred.pid, uid: cred.uid, gid: cred.gid, groups };
}

/** The peer identity the kernel recorded for a connected AF_UNIX socket. */
export function kernelId(fd: number): CsId {
  const c = peerCred(fd);
  return { hid: 0, pid: c.pid, uid: c.uid, gid: c.gid, groups: peerGroups(fd) };
}
