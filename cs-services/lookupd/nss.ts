// Users, groups and hosts as the system resolves them (NSS: files, LDAP, DNS...),
// read through getent(1) so every configured source answers, parsed into records.
import { execFile } from 'node:child_process';

export interface Passwd {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  dir: string;
  shell: string;
}

export interface Group {
  name: string;
  gid: number;
  members: string[];
}

export interface Host {
  name: string;
  aliases: string[];
  addresses: string[];
}

/** getent's exit status for "no such entry". */
const NOT_FOUND = 2;
const GETENT_MS = 10_000;

function failure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The lines getent prints for `db key`; [] when there is no such entry. */
function getent(db: string, key: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('getent', [db, key], { timeout: GETENT_MS, encoding: 'utf8' }, (err, stdout) => {
      if (!err) return resolve(stdout.split('\n').filter(Boolean));
      const code = (err as { code?: unknown }).code; // the exit status, or an errno name when getent could not run
      if (code === NOT_FOUND) return resolve([]);
      reject(failure(code === 'ENOENT' ? 'ENOSYS' : 'EIO', `getent ${db} ${key}: ${err.message.trim()}`));
    });
  });
}

function passwd(line: string): Passwd {
  const [name, , uid, gid, gecos, dir, shell] = line.split(':');
  return { name: name!, uid: Number(uid), gid: Number(gid), gecos: gecos ?? '', dir: dir ?? '', shell: shell ?? '' };
}

function group(line: string): Group {
  const [name, , gid, members] = line.split(':');
  return { name: name!, gid: Number(gid), members: members ? members.split(',') : [] };
}

/** A user by name or by uid (all digits). */
export async function lookupUser(key: string): Promise<Passwd | null> {
  const [line] = await getent('passwd', key);
  return line ? passwd(line) : null;
}

/** A group by name or by gid (all digits). */
export async function lookupGroup(key: string): Promise<Group | null> {
  const [line] = await getent('group', key);
  return line ? group(line) : null;
}

/** A host by name, with every address it has. */
export async function lookupHostByName(name: string): Promise<Host | null> {
  // ahosts prints "address SOCKTYPE [canonical name]" for every address and socket type
  const fields = (await getent('ahosts', name)).map((l) => l.trim().split(/\s+/));
  if (fields.length === 0) return null;
  const canonical = fields.find((f) => f[2])?.[2] ?? name;
  return { name: canonical, aliases: canonical === name ? [] : [name], addresses: [...new Set(fields.map((f) => f[0]!))] };
}

/** A host by address, with its names. */
export async function lookupHostByAddress(address: string): Promise<Host | null> {
  const [line] = await getent('hosts', address);
  if (!line) return null;
  const [, name, ...aliases] = line.trim().split(/\s+/);
  return { name: name ?? address, aliases, addresses: [address] };
}
