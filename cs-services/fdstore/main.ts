// The fdstore service (`server <path>`, by default /dev/fdp/local/fdstore): keeps
// descriptors that clients hand it under a name and hands them out again, like
// systemd's fd store, so a process can restart without losing its listening
// socket or open files. Protocol (README, "fdstore"): request lines `put NAME`
// (then one cssend record), `get NAME`, `del NAME`, `list`; reply lines `ok ...`
// or `error CODE text`. Each uid sees only the names it stored.
import { closeSync } from 'node:fs';
// Each import names the module that owns it: a started fdstore loads only its own part of cs.
import { csrecv } from '../../src/open/api';
import { serveLoop, type ServeLoop } from '../../src/launch/loop';
import { errorLine, LineReader } from '../../src/launch/lines';
import { closeAll } from '../../src/sys/msg';
import { dup } from '../../src/sys/libc';

/** One record carries at most 252 payload descriptors (Linux's SCM_MAX_FD is 253, one is the auth fd). */
const MAX_FDS = 252;
const NAME = /^[A-Za-z0-9_.+-]{1,64}$/;

interface Session {
  uid: number;
  lines: LineReader;
  /** The key of a `put` whose record is still to come. */
  putting: string | null;
}

const sessions = new Map<number, Session>();
/** "<uid>/<name>" -> the descriptors held for it. */
const store = new Map<string, number[]>();
let loop: ServeLoop;
let letGo: (() => void) | null = null;

function refuse(code: string, why: string): Error {
  return Object.assign(new Error(why), { code });
}

function closeQuietly(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // gone already: nothing to release
    }
  }
}

/** Queue a reply line; it goes out as the client reads (the loop stops reading a client that does not). */
function reply(fd: number, text: string): void {
  loop.send(fd, `${text}\n`);
}

/** Copies of `fds` for a reply, all or none (EMFILE when this process is out of descriptors). */
function copies(fds: readonly number[]): number[] {
  const made: number[] = [];
  try {
    for (const fd of fds) made.push(dup(fd));
    return made;
  } catch (e) {
    closeAll(made);
    throw e;
  }
}

/** Replace (or with null, remove) what `key` holds; a server holding descriptors must not retire. */
function setStored(key: string, fds: number[] | null): void {
  closeQuietly(store.get(key) ?? []);
  if (fds) store.set(key, fds);
  else store.delete(key);
  if (store.size > 0 && !letGo) letGo = loop.hold();
  else if (store.size === 0 && letGo) {
    letGo();
    letGo = null;
  }
}

function keyOf(s: Session, name: string | undefined): string {
  if (name === undefined || !NAME.test(name)) throw refuse('EINVAL', `a name is 1 to 64 of A-Z a-z 0-9 _ . + -, got '${name ?? ''}'`);
  return `${s.uid}/${name}`;
}

function stored(key: string): number[] {
  const fds = store.get(key);
  if (!fds) throw refuse('ENOENT', `nothing is stored under '${key.slice(key.indexOf('/') + 1)}'`);
  return fds;
}

function request(fd: number, s: Session, line: string): void {
  const [verb = '', name, ...extra] = line.split(' ');
  if (extra.length > 0) throw refuse('EINVAL', `too many words in '${line}'`);
  if (verb === 'list') {
    if (name !== undefined) throw refuse('EINVAL', 'list takes no name');
    const prefix = `${s.uid}/`;
    const mine = [...store].filter(([key]) => key.startsWith(prefix));
    reply(fd, [`ok ${mine.length}`, ...mine.map(([key, fds]) => `${key.slice(prefix.length)} ${fds.length}`)].join('\n'));
  } else if (verb === 'put') {
    s.putting = keyOf(s, name);
  } else if (verb === 'get') {
    const sent = copies(stored(keyOf(s, name))); // the store keeps its own; a del must not close what is queued
    reply(fd, `ok ${sent.length}`);
    loop.sendRecord(fd, sent);
  } else if (verb === 'del') {
    const key = keyOf(s, name);
    const count = stored(key).length;
    setStored(key, null);
    reply(fd, `ok ${count}`);
  } else {
    throw refuse('EINVAL', `unknown request '${verb}': put, get, del or list`);
  }
}

function end(fd: number): number {
  sessions.delete(fd);
  return -1;
}

/** Run a request: a refusal is answered and the connection goes on. */
function answer(fd: number, run: () => void): void {
  try {
    run();
  } catch (e) {
    reply(fd, errorLine(e));
  }
}

/** The record that follows `put NAME`: store its descriptors in place of what the name held. */
function receive(fd: number, s: Session): number {
  const key = s.putting!;
  s.putting = null;
  let fds: number[];
  try {
    ({ fds } = csrecv(fd, MAX_FDS));
  } catch (e) {
    reply(fd, errorLine(e));
    return end(fd);
  }
  answer(fd, () => {
    if (fds.length === 0) throw refuse('EINVAL', 'put needs at least one descriptor');
    setStored(key, fds);
    reply(fd, `ok ${fds.length}`);
  });
  return 0;
}

function read(fd: number): number {
  const s = sessions.get(fd)!;
  try {
    if (s.putting !== null) return receive(fd, s);
    const line = s.lines.read(fd);
    if (line === null) return end(fd);
    if (line !== undefined) answer(fd, () => request(fd, s, line));
    return 0;
  } catch {
    return end(fd); // the stream broke: a read error, an overlong line, or the peer is gone
  }
}

serveLoop(process.argv[2] ?? '/dev/fdp/local/fdstore', {
  init: (server) => (loop = server),
  connect: (fd, id) => {
    sessions.set(fd, { uid: id.uid, lines: new LineReader(), putting: null });
  },
  read,
  done: () => {
    for (const fds of store.values()) closeQuietly(fds);
    store.clear();
    sessions.clear();
  },
}).catch((e: Error) => {
  console.error(`fdstore: ${e.message}`);
  process.exit(1);
});
