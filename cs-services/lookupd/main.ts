// lookupd: the bundled CAPS name-lookup service (the use case of the 2006 CAPS
// thread). Requests are one line of text, `<op> <key>`: getpwnam NAME, getpwuid UID,
// getgrnam NAME, getgrgid GID, gethostbyname NAME, gethostbyaddr ADDRESS, or `stats`.
// Replies are JSON: {"ok": record} or {"error": CODE, "message": text}; a missing
// entry is {"error": "ENOENT"}. Answers are cached. Started as `server <path>` it
// registers the key its path names; by hand, (0,0) as root, else (its uid,-1).
import { closeSync } from 'node:fs';
// Each import names the module that owns it: a started lookupd loads only its own part of cs.
import { caps, capsKeyOfPath, type CapsRequest } from '../../src/caps';
import { CAPF_ANYCLIENT } from '../../src/caps/constants';
import { LookupCache } from './cache';
import { lookupGroup, lookupHostByAddress, lookupHostByName, lookupUser } from './nss';

const FOUND_MS = 60_000;
const MISSING_MS = 10_000;
const MAX_ENTRIES = 4096;
const MAX_REQUEST = 1024;

const cache = new LookupCache<object>(FOUND_MS, MISSING_MS, MAX_ENTRIES);

const NAME = /^[A-Za-z0-9_.][A-Za-z0-9_.$-]*$/;
const NUMBER = /^[0-9]+$/;

/** Each request: what it looks up (which is also its cache space), how its key looks, who answers. */
const OPS: Record<string, { what: string; check: RegExp; load: (key: string) => Promise<object | null> }> = {
  getpwnam: { what: 'user', check: NAME, load: lookupUser },
  getpwuid: { what: 'user', check: NUMBER, load: lookupUser },
  getgrnam: { what: 'group', check: NAME, load: lookupGroup },
  getgrgid: { what: 'group', check: NUMBER, load: lookupGroup },
  gethostbyname: { what: 'host', check: /^[A-Za-z0-9_.-]+$/, load: lookupHostByName },
  gethostbyaddr: { what: 'address', check: /^[0-9A-Fa-f:.]+$/, load: lookupHostByAddress },
};

function error(code: string, message: string): object {
  return { error: code, message };
}

async function answer(text: string): Promise<object> {
  if (text === 'stats') return { ok: cache.stats };
  const [op, key, ...extra] = text.split(' ');
  const spec = OPS[op!];
  if (!spec) return error('EINVAL', `unknown request '${op}'; expected ${Object.keys(OPS).join(', ')} or stats`);
  if (key === undefined || extra.length > 0 || !spec.check.test(key)) return error('EINVAL', `${op} takes one key, got '${text.slice(op!.length + 1)}'`);
  const found = await cache.get(`${spec.what} ${key}`, () => spec.load(key));
  return found ? { ok: found } : error('ENOENT', `no ${spec.what} '${key}'`);
}

async function handle(req: CapsRequest): Promise<void> {
  let reply: object;
  if (req.data.length > MAX_REQUEST) reply = error('EINVAL', `a request is at most ${MAX_REQUEST} bytes`);
  else {
    try {
      reply = await answer(req.data.toString('utf8').trim());
    } catch (e) {
      reply = error((e as { code?: string }).code ?? 'EIO', (e as Error).message);
    }
  }
  req.reply(Buffer.from(JSON.stringify(reply)));
}

async function main(): Promise<void> {
  const started = process.argv[2] ? capsKeyOfPath(process.argv[2]) : null;
  if (process.argv[2] && !started) throw new Error(`lookupd: '${process.argv[2]}' is not a CAPS path like /dev/fdp/local/lookupd/caps.<uid>.<gid>`);
  const euid = process.geteuid!();
  const key = started ?? { name: 'lookupd', uid: euid, gid: euid === 0 ? 0 : -1 };
  const svc = await caps.service(key.name, { uid: key.uid, gid: key.gid, access: CAPF_ANYCLIENT, idle: true });
  process.stderr.write(`lookupd: serving ${svc.path} (pid ${process.pid})\n`);
  for await (const req of svc) {
    for (const fd of req.fds) closeSync(fd); // lookupd takes no descriptors
    void handle(req);
  }
}

main().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
