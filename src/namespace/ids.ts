// User and group names to ids, from /etc/passwd and /etc/group (local accounts;
// names served only by NSS modules such as LDAP are not seen).
import { readFileSync } from 'node:fs';
import { csError } from '../sys';

function lookup(file: string, name: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length > 2) return Number(f[2]);
  }
  return null;
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
