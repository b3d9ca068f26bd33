// The access handshake of tcp `user`/`group` services (tcp `other` services have
// none: their streams are plain bytes from the first one, open to any tcp peer).
//
//   server -> client  'C' 'S' 0x01 <verdict>              4 bytes, at once after accept
//       verdict 0      admitted: the peer is on this host and the kernel's socket table
//                      shows a uid the service admits; the stream is ready
//       verdict 1      prove who you are: 32 random bytes (the nonce) follow
//       other          refused with that errno (13, EACCES); the server closes
//   client -> server  <uid u32 LE> <HMAC-SHA256(key, "cs-auth-1" nonce uid-u32-LE)>  36 bytes
//   server -> client  <result>                              1 byte: 0 admitted, else errno, then close
//
// `key` is the secret in the key file of that uid (see key.ts). The server admits
// the uid if the service admits it (`user`: the service's uid; `group`: a member of
// the group) and the proof matches the key it reads for that uid.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { csError, errnoCode } from '../sys';
import type { MountDir } from '../namespace';
import { inGroup } from './accounts';
import { readExact, writeAll, type Exchange } from './exchange';
import type { NetId } from './identity';
import { keyFile, keyFileOf, readKey } from './key';

const MAGIC = Buffer.from('CS\x01', 'latin1');
const ADMITTED = 0;
const PROVE = 1;
const EACCES = 13;
const NONCE_BYTES = 32;
const PROOF_BYTES = 4 + 32;

/** Access rules of a service: the uid or gid its path names (null: no rule). */
export type Rules = Pick<MountDir, 'uid' | 'gid'>;

export function hasRules(r: Rules | undefined): r is Rules {
  return r !== undefined && (r.uid !== null || r.gid !== null);
}

function admits(rules: Rules, uid: number): boolean {
  if (rules.uid !== null && uid !== rules.uid) return false;
  return rules.gid === null || inGroup(uid, rules.gid);
}

function proof(key: Buffer, nonce: Buffer, uid: number): Buffer {
  const u = Buffer.alloc(4);
  u.writeUInt32LE(uid >>> 0);
  return createHmac('sha256', key).update('cs-auth-1').update(nonce).update(u).digest();
}

/** Server side, on an accepted stream of a service with rules: returns the admitted identity. */
export function* serverAuth(fd: number, id: NetId, rules: Rules, path: string): Exchange<NetId> {
  const what = 'csrecv';
  if (id.local) {
    const ok = admits(rules, id.uid);
    yield writeAll(fd, Buffer.concat([MAGIC, Buffer.of(ok ? ADMITTED : EACCES)]), what, path);
    if (!ok) throw csError('EACCES', what, path, `local peer uid ${id.uid} is not admitted`);
    return id;
  }
  const nonce = randomBytes(NONCE_BYTES);
  yield writeAll(fd, Buffer.concat([MAGIC, Buffer.of(PROVE), nonce]), what, path);
  const answer = (yield readExact(fd, PROOF_BYTES, what, path)) as Buffer;
  const uid = answer.readUInt32LE(0);
  const ok = admits(rules, uid) && matches(uid, nonce, answer.subarray(4), path);
  yield writeAll(fd, Buffer.of(ok ? ADMITTED : EACCES), what, path);
  if (!ok) throw csError('EACCES', what, path, `remote peer ${id.address} did not prove uid ${uid} with a key the service admits`);
  return { ...id, uid };
}

function matches(uid: number, nonce: Buffer, given: Buffer, path: string): boolean {
  const file = keyFileOf(uid);
  if (file === null) return false;
  let key: Buffer;
  try {
    key = readKey(file, uid, path);
  } catch {
    return false;
  }
  return timingSafeEqual(proof(key, nonce, uid), given);
}

/** Client side, right after connecting to a service with rules. */
export function* clientAuth(fd: number, path: string): Exchange<void> {
  const what = 'csopen';
  const head = (yield readExact(fd, MAGIC.length + 1, what, path)) as Buffer;
  if (!head.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw csError('EPROTO', what, path, 'the server did not start the cs access handshake (is it a cs service with the same user/group option?)');
  }
  const verdict = head[MAGIC.length];
  if (verdict === ADMITTED) return;
  if (verdict !== PROVE) throw csError(errnoCode(verdict), what, path, 'the server refused the connection');
  const nonce = (yield readExact(fd, NONCE_BYTES, what, path)) as Buffer;
  const uid = process.geteuid!();
  const key = readKey(keyFile(), uid, path);
  const u = Buffer.alloc(4);
  u.writeUInt32LE(uid);
  yield writeAll(fd, Buffer.concat([u, proof(key, nonce, uid)]), what, path);
  const result = ((yield readExact(fd, 1, what, path)) as Buffer)[0];
  if (result !== ADMITTED) throw csError(errnoCode(result), what, path, `the server refused the proof for uid ${uid} (key file ${keyFile()})`);
}
