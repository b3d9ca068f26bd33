// The grammar of cs path names (/dev/<proto>/<host>/<service>[/<option>...][/#<arg>]):
// parse, check and canonicalise them, and write the canonical text back. No I/O.
import { canonicalHost } from './host';
import { firstBadChar, pathError, showChar } from './error';

export type Proto = 'fdp' | 'tcp' | 'udp';

export interface CsPathOptions {
  /** null: absent; '': `user` alone (the current user); else the uid digits or a user name. */
  user: string | null;
  /** Same convention as `user`, for the group. */
  group: string | null;
  /** Same convention as `user`, for the trusted uid. */
  trust: string | null;
  other: boolean;
  local: boolean;
  remote: boolean;
  share: boolean;
  slave: boolean;
  test: boolean;
  now: boolean;
}

export interface CsPath {
  proto: Proto;
  /** null when the path is just /dev/<proto>. */
  host: string | null;
  /** null when the path names a directory (/dev/<proto> or /dev/<proto>/<host>). */
  service: string | null;
  options: CsPathOptions;
  /**
   * Unknown options, in order, as written: they name separate instances of the service.
   * One with a value (`b=1`) is the qualifier `b` in the mount directory, as in libcs.
   */
  qualifiers: string[];
  /** The text after '/#' (may contain '/'), else null. */
  arg: string | null;
  /** The canonical text of the path. */
  canonical: string;
}

export const MAX_SERVICE_NAME = 64;
/** PATH_MAX less its terminating NUL. */
const MAX_PATH = 4095;

const PROTOS: readonly string[] = ['fdp', 'tcp', 'udp'] satisfies Proto[];
const SERVICE_CHAR = /^[A-Za-z0-9_.+-]$/u;
const ID_VALUE = /^(?:[0-9]+|[A-Za-z_][A-Za-z0-9_.-]*)$/u;
/** uid_t and gid_t are 32 bits, and (uid_t)-1 means "no id". */
const MAX_ID = 2 ** 32 - 2;

type IdOption = 'user' | 'group' | 'trust';
type FlagOption = 'other' | 'local' | 'remote' | 'share' | 'slave' | 'test' | 'now';
const ID_OPTIONS: readonly IdOption[] = ['user', 'group', 'trust'];
const FLAG_OPTIONS: readonly FlagOption[] = ['other', 'local', 'remote', 'share', 'slave', 'test', 'now'];

/** Parse and check `path`; throws a CsError (code EINVAL or ENAMETOOLONG) naming the bad part. */
export function parsePath(path: string): CsPath {
  checkWhole(path);
  const { parts, arg } = splitComponents(path);
  if (parts[0] !== 'dev') {
    throw pathError(path, 'EINVAL', parts.length === 0 ? 'a cs path starts with /dev/<proto>' : `first component '${parts[0]}' is not 'dev'`);
  }
  if (parts.length < 2) throw pathError(path, 'EINVAL', 'missing protocol: expected /dev/fdp, /dev/tcp or /dev/udp');
  const proto = parts[1]!;
  if (!PROTOS.includes(proto)) throw pathError(path, 'EINVAL', `unknown protocol '${proto}'`);

  const rest = parts.slice(2);
  // Options and the argument belong after the service; before it they are a misplaced part, not a name.
  const early = rest.length < 2 && arg !== null ? `'#${arg}'` : rest.slice(0, 2).map(optionLike).find((o) => o !== null);
  if (early) throw pathError(path, 'EINVAL', `${early} comes before the service`);

  const host = rest.length > 0 ? canonicalHost(path, rest[0]!) : null;
  const service = rest.length > 1 ? checkName(path, 'service name', rest[1]!) : null;
  if (service !== null && /^\.+$/u.test(service)) {
    throw pathError(path, 'EINVAL', `service name '${service}' is only dots`);
  }
  const options = noOptions();
  const qualifiers: string[] = [];
  for (const text of rest.slice(2)) parseOption(path, text, options, qualifiers);

  const parsed = { proto: proto as Proto, host, service, options, qualifiers, arg };
  return { ...parsed, canonical: formatPath(parsed) };
}

/** The name a qualifier gives the mount directory: `b` for both `b` and `b=1`. */
export function qualifierName(q: string): string {
  const eq = q.indexOf('=');
  return eq < 0 ? q : q.slice(0, eq);
}

/** The canonical text of a parsed path: options in fixed order, then qualifiers, then the argument. */
export function formatPath(p: Omit<CsPath, 'canonical'>): string {
  let text = `/dev/${p.proto}`;
  if (p.host === null) return text;
  text += `/${p.host}`;
  if (p.service === null) return text;
  text += `/${p.service}`;
  for (const name of ID_OPTIONS) {
    const value = p.options[name];
    if (value !== null) text += value === '' ? `/${name}` : `/${name}=${value}`;
  }
  for (const name of FLAG_OPTIONS) if (p.options[name]) text += `/${name}`;
  for (const q of p.qualifiers) text += `/${q}`;
  if (p.arg !== null) text += `/#${p.arg}`;
  return text;
}

function checkWhole(path: unknown): asserts path is string {
  if (typeof path !== 'string') {
    const err = new TypeError(`The "path" argument must be of type string. Received ${describe(path)}`) as TypeError & { code: string };
    err.code = 'ERR_INVALID_ARG_TYPE';
    throw err;
  }
  if (path === '') throw pathError(path, 'EINVAL', 'empty path');
  const nul = path.indexOf('\0');
  if (nul >= 0) {
    throw pathError(path, 'EINVAL', `NUL byte at byte offset ${Buffer.byteLength(path.slice(0, nul))}`);
  }
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_PATH) throw pathError(path, 'ENAMETOOLONG', `path is ${bytes} bytes, longer than ${MAX_PATH}`);
  if (!path.startsWith('/')) throw pathError(path, 'EINVAL', "not absolute: a cs path starts with '/dev/'");
}

/** Node's wording for the received value of a wrong-typed argument. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  if (typeof value === 'function') return `function ${value.name}`;
  return `type ${typeof value} (${String(value)})`;
}

/**
 * The components of an absolute path with '', '.' dropped, up to the first one that
 * starts with '#': from there on the text is the argument, verbatim.
 */
function splitComponents(path: string): { parts: string[]; arg: string | null } {
  const parts: string[] = [];
  let start = 1;
  while (start <= path.length) {
    const slash = path.indexOf('/', start);
    const end = slash < 0 ? path.length : slash;
    const part = path.slice(start, end);
    if (part.startsWith('#')) return { parts, arg: path.slice(start + 1) };
    if (part === '..') throw pathError(path, 'EINVAL', "'..' is not allowed");
    if (part !== '' && part !== '.') parts.push(part);
    start = end + 1;
  }
  return { parts, arg: null };
}

/** `'user=0'`-style text if `part` can only be a known option with a value, else null. */
function optionLike(part: string): string | null {
  const eq = part.indexOf('=');
  return eq > 0 && (ID_OPTIONS as readonly string[]).includes(part.slice(0, eq)) ? `option '${part}'` : null;
}

/** `text` if it is a valid service or qualifier name, else throws naming what is wrong. */
function checkName(path: string, what: string, text: string): string {
  const bad = firstBadChar(text, SERVICE_CHAR);
  if (bad !== null) throw pathError(path, 'EINVAL', `${what} '${text}' has a character that is not allowed: ${showChar(bad)}`);
  if (text.length > MAX_SERVICE_NAME) {
    throw pathError(path, 'ENAMETOOLONG', `${what} '${text}' is ${text.length} bytes, longer than ${MAX_SERVICE_NAME}`);
  }
  return text;
}

function noOptions(): CsPathOptions {
  return { user: null, group: null, trust: null, other: false, local: false, remote: false, share: false, slave: false, test: false, now: false };
}

function parseOption(path: string, text: string, options: CsPathOptions, qualifiers: string[]): void {
  if ((FLAG_OPTIONS as readonly string[]).includes(text)) {
    options[text as FlagOption] = true;
    return;
  }
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  if (!(ID_OPTIONS as readonly string[]).includes(name)) {
    if (name === '') throw pathError(path, 'EINVAL', `option '${text}' has no name`);
    checkName(path, 'qualifier', name);
    if (eq >= 0) checkName(path, `value of qualifier '${name}'`, text.slice(eq + 1));
    qualifiers.push(text);
    return;
  }
  const value = eq < 0 ? '' : idValue(path, text, text.slice(eq + 1));
  const previous = options[name as IdOption];
  if (previous !== null && previous !== value) {
    throw pathError(path, 'EINVAL', `option '${text}' conflicts with '${previous === '' ? name : `${name}=${previous}`}'`);
  }
  options[name as IdOption] = value;
}

/** The canonical value of `option=value`: a uid/gid in plain decimal, or a name. */
function idValue(path: string, option: string, value: string): string {
  if (value === '') throw pathError(path, 'EINVAL', `option '${option}' has an empty value`);
  if (!ID_VALUE.test(value)) {
    throw pathError(path, 'EINVAL', `option '${option}' needs a number or a name like [A-Za-z_][A-Za-z0-9_.-]*`);
  }
  if (!/^[0-9]/u.test(value)) return value;
  // Leading zeros would make two spellings of one id, and so two instances of one service.
  const id = BigInt(value);
  if (id > BigInt(MAX_ID)) throw pathError(path, 'EINVAL', `option '${option}' is out of range 0..${MAX_ID}`);
  return id.toString();
}

/** True when a stream's canonical cs path names a tcp or udp stream. */
export function isNetPath(path: string): boolean {
  return path.startsWith('/dev/tcp/') || path.startsWith('/dev/udp/');
}
