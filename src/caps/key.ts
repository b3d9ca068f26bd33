// CAPS service keys (name, uid, gid) and their place in the cs namespace: the key
// (name, uid, gid) is the fdp service /dev/fdp/local/<name>/caps.<uid>.<gid>
// (-1 as is), so that a launch entry lib/cs/fdp/<name>/ can start it. A key with a
// uid adds /trust=<uid>: only that uid (or root) may register it, so its clients
// may trust a server of that uid whoever they are.
import { parsePath } from '../path';
import { csError } from '../sys';
import { CAPS_MAXNAMELEN } from './constants';

export interface CapsKey {
  name: string;
  /** -1: not registered for (or, in a query, any) uid. */
  uid: number;
  gid: number;
}

const NAME = /^[A-Za-z0-9_.]+$/u;
const QUALIFIER = /^caps\.(-1|0|[1-9][0-9]*)\.(-1|0|[1-9][0-9]*)$/u;
/** uid_t/gid_t are 32 bits; (uid_t)-1 is "none". */
const NO_ID = 2 ** 32 - 1;

export function typeError(what: string, expected: string, value: unknown): TypeError {
  return Object.assign(new TypeError(`${what} must be ${expected}, got ${typeof value === 'bigint' ? `${value}n` : String(value)}`), { code: 'ERR_INVALID_ARG_TYPE' });
}

/** A valid CAPS name: [A-Za-z0-9_.], 1..63 bytes, not only dots (those would be directory aliases). */
export function checkName(name: unknown, syscall: string): string {
  if (typeof name !== 'string') throw typeError('name', 'a string', name);
  if (name.length === 0 || name.length >= CAPS_MAXNAMELEN) {
    throw csError('EINVAL', syscall, undefined, `name must be 1..${CAPS_MAXNAMELEN - 1} bytes, got ${name.length}`);
  }
  if (!NAME.test(name)) throw csError('EINVAL', syscall, undefined, `name '${name.replace(/[^\x20-\x7e]/gu, '?')}' has a character outside [A-Za-z0-9_.]`);
  if (/^\.+$/u.test(name)) throw csError('EINVAL', syscall, undefined, `name '${name}' is only dots`);
  return name;
}

/** A uid or gid argument: 0..2^32-2, or -1 (also spelt 2^32-1) for none. */
export function checkId(value: unknown, what: 'uid' | 'gid', syscall: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(what, 'an integer', value);
  if (value === -1 || value === NO_ID) return -1;
  if (value < 0 || value > NO_ID) throw csError('EINVAL', syscall, undefined, `${what} ${value} is out of range -1..${NO_ID - 1}`);
  return value;
}

/** Check the arguments of caps_sys_service/caps_sys_client: either id may be -1, not both. */
export function makeKey(name: unknown, uid: unknown, gid: unknown, syscall: string): CapsKey {
  const key = { name: checkName(name, syscall), uid: checkId(uid, 'uid', syscall), gid: checkId(gid, 'gid', syscall) };
  if (key.uid === -1 && key.gid === -1) throw csError('EINVAL', syscall, undefined, 'uid and gid cannot both be -1');
  return key;
}

/** The cs path of a key. */
export function keyPath(key: CapsKey): string {
  const trust = key.uid === -1 ? '' : `/trust=${key.uid}`;
  return `/dev/fdp/local/${key.name}${trust}/caps.${key.uid}.${key.gid}`;
}

/** The key a cs path stands for (as handed to a started server), or null when it is not a CAPS path. */
export function keyOfPath(path: string): CapsKey | null {
  let p;
  try {
    p = parsePath(path);
  } catch {
    return null;
  }
  const m = p.qualifiers.length === 1 ? QUALIFIER.exec(p.qualifiers[0]!) : null;
  if (p.proto !== 'fdp' || p.service === null || !m || !NAME.test(p.service) || p.service.length >= CAPS_MAXNAMELEN) return null;
  return { name: p.service, uid: Number(m[1]), gid: Number(m[2]) };
}

/** The key written in a perm directory name ("...-caps.<uid>.<gid>"), or null. */
export function keyOfPermName(name: string, perm: string): CapsKey | null {
  const m = /-caps\.(-1|0|[1-9][0-9]*)\.(-1|0|[1-9][0-9]*)$/u.exec(perm);
  return m ? { name, uid: Number(m[1]), gid: Number(m[2]) } : null;
}

/** Does a registration `key` answer the lookup `query` (whose -1 fields match anything)? */
export function keyMatches(query: CapsKey, key: CapsKey): boolean {
  return query.name === key.name && (query.uid === -1 || query.uid === key.uid) && (query.gid === -1 || query.gid === key.gid);
}
