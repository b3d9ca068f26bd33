// The opener service (`main.js <path> [allow-file]`, by default /dev/fdp/local/opener
// and the file `allow` beside the launch entry that started it):
// a privilege-separation broker. A client sends a file's absolute path as one line;
// the opener opens it read-only and passes the descriptor back ("ok" then a cssend
// record) if the file, after every symbolic link is resolved, is on the allow-list
// beside its launch entry; otherwise it answers "error CODE text". `..` components
// and a symbolic link as the last component are refused outright.
import { closeSync, constants as C, fstatSync, openSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
// Each import names the module that owns it: a started opener loads only its own part of cs.
import { serveLoop, type ServeLoop } from '../../src/launch/loop';
import { errorLine, LineReader } from '../../src/launch/lines';
import { allows, readAllowList } from './allow';

const allowFile = process.argv[3] ?? join(dirname(require.main!.filename), 'allow');
const readers = new Map<number, LineReader>();
let loop: ServeLoop;

function refuse(code: string, why: string): Error {
  return Object.assign(new Error(why), { code });
}

/**
 * Open `path` read-only, never following a symbolic link as its last component nor
 * blocking on a FIFO; the caller owns the result. The allow-list is checked on the
 * resolved path before opening and again on the file the kernel actually opened, so
 * a link swapped in on the way cannot smuggle another file through.
 */
function openAllowed(path: string): number {
  if (!path.startsWith('/')) throw refuse('EINVAL', `'${path}' is not an absolute path`);
  if (path.split('/').includes('..')) throw refuse('EACCES', `'..' is not allowed in '${path}'`);
  const list = readAllowList(allowFile);
  // Check before opening too: opening a device can act on it even if it is refused afterwards.
  let resolved: string;
  try {
    resolved = realpathSync(path);
  } catch (e) {
    throw refuse((e as NodeJS.ErrnoException).code ?? 'EIO', `cannot open '${path}'`);
  }
  if (!allows(list, resolved)) throw refuse('EACCES', `'${resolved}' is not on the allow-list`);
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw refuse(code, code === 'ELOOP' ? `'${path}' is a symbolic link` : `cannot open '${path}'`);
  }
  try {
    const real = readlinkSync(`/proc/self/fd/${fd}`);
    if (!allows(list, real)) throw refuse('EACCES', `'${real}' is not on the allow-list`);
    if (!fstatSync(fd).isFile()) throw refuse('EINVAL', `'${real}' is not a regular file`);
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Queue the reply: it goes out as the client reads (the loop stops reading a client that does not). */
function answer(fd: number, path: string): void {
  let file: number;
  try {
    file = openAllowed(path);
  } catch (e) {
    return loop.send(fd, `${errorLine(e)}\n`);
  }
  loop.send(fd, 'ok\n');
  loop.sendRecord(fd, [file]); // the loop closes it once sent
}

function read(fd: number): number {
  try {
    const line = readers.get(fd)!.read(fd);
    if (line === null) throw refuse('ECONNRESET', 'end of stream');
    if (line !== undefined) answer(fd, line);
    return 0;
  } catch {
    readers.delete(fd); // the stream ended or broke
    return -1;
  }
}

serveLoop(process.argv[2] ?? '/dev/fdp/local/opener', {
  init: (server) => (loop = server),
  connect: (fd) => {
    readers.set(fd, new LineReader());
  },
  read,
}).catch((e: Error) => {
  console.error(`opener: ${e.message}`);
  process.exit(1);
});
