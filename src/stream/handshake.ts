// The libcs rendezvous (SPEC 5), as non-blocking steps that both the synchronous
// and the async API drive: the server writes a one-byte greeting (CS_GREETING = accepted,
// libcs writes 0; else the errno of its refusal, then it closes) and the client answers with an
// id record. A cs server checks the peer's kernel identity before greeting; the
// client learns the server's from the greeting, which the kernel stamps with the
// credentials of the process that wrote it (the client's socket has SO_PASSCRED from
// before it connects), not of whoever created the listening socket.
import { closeSync, existsSync, openSync, constants as C } from 'node:fs';
import {
  csError, closeAll, errnoCode, recvFds, writeRaw, socket, connect, close, unixAddr, passCred, UNIX_PATH_MAX,
  AF_UNIX, SOCK_STREAM, SOCK_NONBLOCK, EAGAIN, type CsError,
} from '../sys';
import { ownerName, trustedServer, type MountDir } from '../namespace';
import type { CsId } from './flags';
import { AGAIN, type Steps } from '../io';
import { kernelId, senderId, trySendRecord } from './record';

const one = new Uint8Array(1);

/**
 * What a cs server greets an admitted client with. libcs servers write 0, and libcs
 * clients do not look at the value: a cs client that reads this may send cs records.
 */
export const CS_GREETING = 0xc5;

export interface Greeted {
  /** The process that wrote the greeting. */
  server: CsId;
  /** The server speaks cs. */
  cs: boolean;
}

/** Client: read the server's greeting: who wrote it, and whether it speaks cs. */
export function tryReadGreeting(fd: number, path: string): Greeted | typeof AGAIN {
  const r = recvFds(fd, one, 0);
  const n = r.n;
  if (n === -EAGAIN) return AGAIN;
  if (n < 0) throw csError(errnoCode(-n), 'csopen', path, 'reading the server greeting');
  if (n === 0) throw csError('ECONNRESET', 'csopen', path, 'the server closed the connection before greeting');
  if (r.truncated || r.fds.length > 0) throw csError('EPROTO', 'csopen', path, 'the server sent descriptors with its greeting');
  if (one[0] !== 0 && one[0] !== CS_GREETING) throw csError(errnoCode(one[0]), 'csopen', path, 'the server refused the connection');
  return { server: senderId(r.cred, () => kernelId(fd)), cs: one[0] === CS_GREETING };
}

/**
 * Client: the rendezvous, as steps for a driver: the greeting (whose writer is the
 * server), then this process's record, in the cs form to a cs server (which it tells
 * that we speak cs too). `answer(g)` may refuse the server by throwing, and gives the
 * descriptors the record carries, closed once it is sent or has failed.
 */
export function* clientRendezvous(fd: number, path: string, answer: (g: Greeted) => number[] = () => []): Steps<Greeted> {
  const g = (yield { want: 'r', attempt: () => tryReadGreeting(fd, path) }) as Greeted;
  const fds = answer(g);
  try {
    yield { want: 'w', attempt: () => trySendRecord(fd, fds, path, g.cs) };
  } finally {
    closeAll(fds);
  }
  return g;
}

/** Server: the errno a peer is refused with, or 0 when `md`'s user/group rules admit it. */
export function admission(md: MountDir | undefined, id: CsId): number {
  if (!md) return 0;
  const EACCES = 13;
  if (md.uid !== null && id.uid !== md.uid) return EACCES;
  if (md.gid !== null && id.gid !== md.gid && !id.groups.includes(md.gid)) return EACCES;
  return 0;
}

/**
 * Client: a `user` or `group` service must be served by that user or group, any
 * other by a user trustedServer accepts. `server` is the process that wrote the
 * greeting (not whoever created the listening socket, which for an auto-started
 * server is the client that started it): a server planted by anyone else is refused
 * before the client sends anything.
 */
export function checkServer(server: CsId, md: MountDir): void {
  const owned = md.uid !== null || md.gid !== null;
  if (owned ? admission(md, server) !== 0 : !trustedServer(md, server)) {
    throw csError('EACCES', 'csopen', md.path, `the server runs as ${ownerName(server.uid)} gid ${server.gid}, who may not serve this service for ${ownerName(process.geteuid!())}`);
  }
}

/** Server: write the greeting byte, CS_GREETING or a refusal's errno (the socket is fresh, so one byte always fits). */
export function writeGreeting(fd: number, code: number, path: string): void {
  one[0] = code;
  const n = writeRaw(fd, one, 1);
  if (n !== 1) throw csError(n < 0 ? errnoCode(-n) : 'EIO', 'csrecv', path, 'writing the greeting');
}

/**
 * Run `use` on a fresh non-blocking AF_UNIX stream socket and return it; closes it if
 * `use` throws. The socket has SO_PASSCRED before it connects or listens (accepted
 * streams inherit it), so every message it receives names its sender.
 */
export function withUnixSocket(use: (fd: number) => void): number {
  const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK);
  try {
    passCred(fd);
    use(fd);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

/**
 * withUnixSocket, `use` also getting the path to reach S-cs.mnt by: the path itself,
 * or the directory's /proc/self/fd entry when the path is longer than sun_path allows.
 */
export function withServiceSocket(md: MountDir, use: (fd: number, target: string) => void): number {
  return withUnixSocket((fd) => {
    let dirFd = -1;
    try {
      let target = md.socket;
      if (Buffer.byteLength(target) > UNIX_PATH_MAX) {
        dirFd = openSync(md.dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
        target = `/proc/self/fd/${dirFd}/S-cs.mnt`;
      }
      use(fd, target);
    } finally {
      if (dirFd >= 0) closeSync(dirFd);
    }
  });
}

/**
 * Connect a fresh non-blocking AF_UNIX socket to the service's S-cs.mnt. Returns the fd;
 * throws ENOENT/ECONNREFUSED (nobody listening) or other errors.
 */
export function connectUnix(md: MountDir): number {
  try {
    return withServiceSocket(md, (fd, target) => {
      // A non-blocking AF_UNIX connect never stays in progress: it completes or fails at once
      // (EAGAIN only when the backlog is full, reported as such).
      if (!connect(fd, unixAddr(target), md.path)) throw csError('EAGAIN', 'connect', md.path, 'the server backlog is full');
    });
  } catch (e) {
    const err = e as CsError;
    if (err.code === 'ENOENT' && !existsSync(md.dir)) err.message += ` (no directory ${md.dir})`;
    throw err;
  }
}
