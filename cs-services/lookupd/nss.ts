// Users, groups and hosts as the system resolves them (NSS: files, LDAP, DNS...),
// read through getent(1) so every configured source answers, parsed into records.
// A key is always a key (`--` ends getent's options), and only a few getent
// processes run at once with a bounded queue behind them: a flood of requests is
// refused with EAGAIN instead of forking without end.
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
/** getent processes at most at once, and lookups at most waiting for one. */
export const MAX_RUNNING = 4;
export const MAX_WAITING = 64;

let running = 0;
const waiting: (() => void)[] = [];

function failure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Run `job` in one of MAX_RUNNING slots, queueing behind at most MAX_WAITING others; EAGAIN beyond that. */
async function inSlot<T>(job: () => Promise<T>): Promise<T> {
  if (running < MAX_RUNNING) running++;
  else if (waiting.length >= MAX_WAITING) throw failure('EAGAIN', `lookupd is busy: ${MAX_RUNNING} lookups run and ${MAX_WAITING} wait; ask again later`);
  else await new Promise<void>((resolve) => waiting.push(resolve));
  try {
    return await job();
  } finally {
    // hand the slot straight to the next waiter, else free it
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

/** The lines getent prints for `db key`; [] when there is no such entry. */
function getent(db: string, key: string): Promise<string[]> {
  return inSlot(() => new Promise((resolve, reject) => {
    execFile('getent', [db, '--', key], { timeout: GETENT_MS, encoding: 'utf8' }, (err, stdout) => {
      if (!err) return resolve(stdout.split('\n').filter(Boolean));
      const code = (err as { code?: unknown }).code; // the exit status, or an errno name when getent could not run
      if (code === NOT_FOUND) return resolve([]);
      reject(failure(code === 'ENOENT' ? 'ENOSYS' : 'EIO', `getent ${db} ${key}: ${err.message.trim()}`));
    });
  }));
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
