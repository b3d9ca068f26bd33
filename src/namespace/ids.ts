// User and group names to ids and uids to names, from /etc/passwd and /etc/group (local accounts;
// names served only by NSS modules such as LDAP are not seen).
import { readFileSync } from 'node:fs';
import { csError } from '../sys';

/** The entries of an account file as fields (none when it cannot be read). */
function accounts(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8').split('\n').map((line) => line.split(':')).filter((f) => f.length > 2);
  } catch {
    return [];
  }
}

function lookup(file: string, name: string): number | null {
  const f = accounts(file).find((e) => e[0] === name);
  return f ? Number(f[2]) : null;
}

/** `uid 65534 (nobody)`: a uid, with its name when /etc/passwd has one. */
export function ownerName(uid: number): string {
  const name = accounts('/etc/passwd').find((e) => e[2] === String(uid))?.[0];
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

/** The primary gid of `uid` in /etc/passwd, or null when it has no entry there. */
export function primaryGid(uid: number): number | null {
  const f = accounts('/etc/passwd').find((e) => e[2] === String(uid));
  return f && f.length > 3 ? Number(f[3]) : null;
}

function resolveId(kind: 'user' | 'group', spec: string, path: string): number {
  if (spec === '') return kind === 'user' ? process.geteuid!() : process.getegid!();
  if (/^\d+$/.test(spec)) return Number(spec);
  const id = lookup(kind === 'user' ? '/etc/passwd' : '/etc/group', spec);
  if (id === null) throw csError('EINVAL', 'csopen', path, `unknown ${kind} '${spec}'`);
  return id;
}

/** `spec` is '' (the current one), digits, or a name; `path` is for the error. */
export function resolveUid(spec: string, path: string): number {
  return resolveId('user', spec, path);
}

export function resolveGid(spec: string, path: string): number {
  return resolveId('group', spec, path);
}
