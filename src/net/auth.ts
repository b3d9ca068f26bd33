// The access handshake of tcp `user`/`group` services (tcp `other` services have
// none: their streams are plain bytes from the first one, open to any tcp peer).
//
//   server -> client  'C' 'S' 0x02 <verdict>              4 bytes, at once after accept
//       verdict 0      admitted: the peer is on this host and its own socket, held by
//                      a process, was made by a uid the service admits; the stream is ready
//       verdict 1      prove who you are: 32 random bytes (the server's nonce Ns) follow
//       other          refused with that errno (13, EACCES); the server closes
//   client -> server  <uid u32 LE> <Nc: 32 random bytes> <HMAC-SHA256(key, "cs-auth-2 client" Ns Nc uid E)>   68 bytes
//   server -> client  0 <HMAC-SHA256(key, "cs-auth-2 server" Ns Nc uid E)>   33 bytes: admitted
//                     or <errno>                                            1 byte, then close:
//                        13 (EACCES) refused, else what kept the server from checking (24, EMFILE)
//
// `key` is the secret in the key file of that uid (see key.ts); uid is u32 LE. E is
// the server's end of the connection: its address as 16 bytes (IPv4 as ::ffff:a.b.c.d)
// and its port (u16 BE); the server takes it from its socket, the client from the
// address it connected to. The server admits the uid if the service admits it (`user`:
// the service's uid; `group`: a member of the group) and the client's proof matches the
// key it reads for that uid; the client uses the stream only if the server's proof
// matches its own key. A relay in the middle connects to the server from its own end,
// so a client's proof (made for the relay's address) never matches there, and without
// the key it cannot answer the client itself.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { csError, errnoCode, inet6Bytes, localInet, type CsError, type InetAddress } from '../sys';
import type { MountDir } from '../namespace';
import { inGroup } from './accounts';
import { readExact, writeAll, type Exchange } from './exchange';
import type { NetId } from './identity';
import { keyFile, keyFileOf, readKey } from './key';

const MAGIC = Buffer.from('CS\x02', 'latin1');
const ADMITTED = 0;
const PROVE = 1;
const EACCES = 13;
const NONCE_BYTES = 32;
const MAC_BYTES = 32;
const ANSWER_BYTES = 4 + NONCE_BYTES + MAC_BYTES;

/** Access rules of a service: the uid or gid its path names (null: no rule). */
export type Rules = Pick<MountDir, 'uid' | 'gid'>;

export function hasRules(r: Rules | undefined): r is Rules {
  return r !== undefined && (r.uid !== null || r.gid !== null);
}

function admits(rules: Rules, uid: number): boolean {
  if (uid < 0 || (rules.uid !== null && uid !== rules.uid)) return false;
  return rules.gid === null || inGroup(uid, rules.gid);
}

/** What both proofs cover: the two nonces, the uid and the server's end E. */
interface Challenge {
  ns: Buffer;
  nc: Buffer;
  uid: number;
  server: InetAddress;
}

function mac(key: Buffer, role: 'client' | 'server', c: Challenge): Buffer {
  const tail = Buffer.alloc(4 + 16 + 2);
  tail.writeUInt32LE(c.uid >>> 0, 0);
  inet6Bytes(c.server.address).copy(tail, 4);
  tail.writeUInt16BE(c.server.port, 20);
  return createHmac('sha256', key).update(`cs-auth-2 ${role}`).update(c.ns).update(c.nc).update(tail).digest();
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
  const ns = randomBytes(NONCE_BYTES);
  yield writeAll(fd, Buffer.concat([MAGIC, Buffer.of(PROVE), ns]), what, path);
  const answer = (yield readExact(fd, ANSWER_BYTES, what, path)) as Buffer;
  const c = { ns, nc: answer.subarray(4, 4 + NONCE_BYTES), uid: answer.readUInt32LE(0), server: localInet(fd) };
  let key: Buffer | null;
  try {
    key = admits(rules, c.uid) ? keyOf(c.uid, path) : null;
  } catch (e) {
    // the server could not check the proof (out of descriptors): the client hears why
    yield writeAll(fd, Buffer.of(-(e as CsError).errno || EACCES), what, path); // never 0, which admits
    throw e;
  }
  if (key === null || !timingSafeEqual(mac(key, 'client', c), answer.subarray(4 + NONCE_BYTES))) {
    yield writeAll(fd, Buffer.of(EACCES), what, path);
    throw csError('EACCES', what, path, `remote peer ${id.address} did not prove uid ${c.uid} with a key the service admits`);
  }
  yield writeAll(fd, Buffer.concat([Buffer.of(ADMITTED), mac(key, 'server', c)]), what, path);
  return { ...id, uid: c.uid };
}

/** The key of `uid` as this host keeps it, or null when it has none that may be used; EMFILE/ENFILE when it cannot look. */
function keyOf(uid: number, path: string): Buffer | null {
  const file = keyFileOf(uid);
  if (file === null) return null;
  try {
    return readKey(file, uid, path);
  } catch (e) {
    if ((e as CsError).code === 'EACCES') return null;
    throw e;
  }
}

/** Client side, right after connecting to a service with rules. */
export function* clientAuth(fd: number, path: string): Exchange<void> {
  const what = 'csopen';
  const head = (yield readExact(fd, MAGIC.length + 1, what, path)) as Buffer;
  if (!head.subarray(0, MAGIC.length).equals(MAGIC)) {
    const why = head.toString('latin1', 0, 2) === 'CS'
      ? `the server speaks access handshake version ${head[2]}, this client ${MAGIC[2]}`
      : 'the server did not start the cs access handshake (is it a cs service with the same user/group option?)';
    throw csError('EPROTO', what, path, why);
  }
  const verdict = head[MAGIC.length];
  if (verdict === ADMITTED) return;
  if (verdict !== PROVE) throw csError(errnoCode(verdict), what, path, 'the server refused the connection');
  const ns = (yield readExact(fd, NONCE_BYTES, what, path)) as Buffer;
  const uid = process.geteuid!();
  const key = readKey(keyFile(), uid, path);
  const c = { ns, nc: randomBytes(NONCE_BYTES), uid, server: localInet(fd, true) };
  const u = Buffer.alloc(4);
  u.writeUInt32LE(uid);
  yield writeAll(fd, Buffer.concat([u, c.nc, mac(key, 'client', c)]), what, path);
  const result = ((yield readExact(fd, 1, what, path)) as Buffer)[0];
  if (result === EACCES) throw csError('EACCES', what, path, `the server refused the proof for uid ${uid} (key file ${keyFile()})`);
  if (result !== ADMITTED) throw csError(errnoCode(result), what, path, `the server could not check the proof for uid ${uid}`);
  const proof = (yield readExact(fd, MAC_BYTES, what, path)) as Buffer;
  if (!timingSafeEqual(mac(key, 'server', c), proof)) {
    throw csError('EACCES', what, path, `the server did not prove it holds the key of uid ${uid}: something between this host and the service answered for it`);
  }
}
