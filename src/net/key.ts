// Per-user secret keys for proving identity to a remote `user`/`group` service.
// A key lives in $XDG_CONFIG_HOME/cs/key (else ~/.config/cs/key): a file only its
// owner can read (mode 0600 or stricter), so where home directories are shared the
// same key is on every host, like libcs's authentication files.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as C, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { csError, type CsError } from '../sys';
import { homeOf } from './accounts';

const MIN_KEY_BYTES = 16;
const MAX_KEY_BYTES = 4096;

/** This user's key file. */
export function keyFile(): string {
  const config = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(config, 'cs', 'key');
}

/** The key file of `uid`: ours for our own uid, else under that user's home. */
export function keyFileOf(uid: number): string | null {
  if (uid === process.geteuid!()) return keyFile();
  const home = homeOf(uid);
  return home === null ? null : join(home, '.config', 'cs', 'key');
}

/**
 * The secret in `file`, which must be a regular file owned by `uid` that nobody
 * else may read. Throws EACCES naming what is wrong (`path` is the cs path), or
 * EMFILE/ENFILE when this process cannot open it for want of descriptors.
 */
export function readKey(file: string, uid: number, path?: string): Buffer {
  const refuse = (why: string) => csError('EACCES', 'csopen', path, `key file ${file} ${why}`);
  let fd: number;
  try {
    fd = openSync(file, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (e) {
    const code = (e as CsError).code;
    // out of descriptors says nothing about the key: report that, not a refusal
    if (code === 'EMFILE' || code === 'ENFILE') throw csError(code, 'csopen', path, `key file ${file} cannot be opened now`);
    throw refuse(`cannot be opened (${code})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw refuse('is not a regular file');
    if (st.uid !== uid) throw refuse(`is owned by uid ${st.uid}, not ${uid}`);
    if (st.mode & 0o077) throw refuse(`has mode 0${(st.mode & 0o777).toString(8)}: group or others may read it; it must be 0600`);
    if (st.size > MAX_KEY_BYTES) throw refuse(`is larger than ${MAX_KEY_BYTES} bytes`);
    const key = Buffer.from(readFileSync(fd, 'utf8').trim());
    if (key.length < MIN_KEY_BYTES) throw refuse(`holds ${key.length} bytes; a key has at least ${MIN_KEY_BYTES}`);
    return key;
  } finally {
    closeSync(fd);
  }
}

/** Create a new random key file (mode 0600, its directory 0700); EEXIST if one is there. Returns its name. */
export function createKeyFile(file: string = keyFile()): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fd = openSync(file, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, randomBytes(32).toString('hex') + '\n');
  } finally {
    closeSync(fd);
  }
  return file;
}
