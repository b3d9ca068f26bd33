// Local account facts the network side needs: a user's home (for key files) and
// groups (for `group` services), from /etc/passwd and /etc/group.
import { readFileSync } from 'node:fs';

function entries(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f.length > 3);
  } catch {
    return [];
  }
}

function passwd(uid: number): string[] | undefined {
  return entries('/etc/passwd').find((f) => Number(f[2]) === uid && f[2] !== '');
}

/** The home directory of `uid`, or null when the account is unknown. */
export function homeOf(uid: number): string | null {
  return passwd(uid)?.[5] || null;
}

/** True when `uid` has `gid` as its primary group or is listed as a member of it. */
export function inGroup(uid: number, gid: number): boolean {
  const pw = passwd(uid);
  if (!pw) return false;
  if (Number(pw[3]) === gid) return true;
  const group = entries('/etc/group').find((f) => Number(f[2]) === gid && f[2] !== '');
  return group !== undefined && group[3].split(',').includes(pw[0]);
}
