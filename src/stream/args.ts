// The `/#arg` of an fdp path, handed to a cs server with the rendezvous. libcs has no
// way to do this on fdp (it sends arguments only inside its own tcp authentication),
// so the wire stays libcs's: only to a server whose greeting says it speaks cs
// (CS_GREETING) does a client with an argument attach one descriptor to its answering
// record: an anonymous file holding the argument. A libcs server never gets one; a
// libcs client never sends one.
import { closeSync, fstatSync, readSync, writeSync } from 'node:fs';
import { csError, memfd } from '../sys';

/** The longest argument: a path is at most this long. */
const MAX_ARG = 4095;

/** Client: an anonymous file holding `arg` to attach to the answering record, or null without one; EOPNOTSUPP when the server cannot take it. */
export function argFile(arg: string | null, serverTakesArgs: boolean, path: string): number | null {
  if (arg === null) return null;
  if (!serverTakesArgs) throw csError('EOPNOTSUPP', 'csopen', path, `the server takes no '/#${arg}' argument (a libcs server: libcs hands arguments over only in its tcp authentication)`);
  const fd = memfd('cs-arg');
  try {
    writeSync(fd, arg, 0);
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * Server: the arguments in the descriptors of a client's answering record (none: null),
 * split at `/#` as libcs splits them. Closes the descriptors; EPROTO for anything but
 * one regular file of at most MAX_ARG bytes (read at its offset 0, so it cannot block).
 */
export function readArgs(fds: number[], path: string): string[] | null {
  try {
    if (fds.length === 0) return null;
    const st = fds.length === 1 ? fstatSync(fds[0]) : null;
    if (!st?.isFile() || st.size > MAX_ARG) throw csError('EPROTO', 'csrecv', path, 'the client\'s argument is not one regular file of at most 4095 bytes');
    const buf = Buffer.alloc(st.size);
    const n = readSync(fds[0], buf, 0, st.size, 0);
    return buf.toString('utf8', 0, n).split('/#');
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
