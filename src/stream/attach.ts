// Attaching a connected AF_UNIX stream cs did not open itself (inherited, from
// LISTEN_FDS, received in a record, one end of a socketpair): checking that it is
// one, and naming it. A socket in the namespace is named by its service's cs path,
// read back from its address; any other by `unix:` and its address.
import { fstatSync } from 'node:fs';
import {
  csError, getsockopt, localUnixPath, AF_UNIX, SOCK_STREAM, SOL_SOCKET, SO_ACCEPTCONN, SO_DOMAIN, SO_TYPE, type CsError,
} from '../sys';
import { isThisHost, mountRoot } from '../namespace';

const opt = Buffer.alloc(4);

function intOption(fd: number, name: number): number {
  getsockopt(fd, SOL_SOCKET, name, opt);
  return opt.readInt32LE(0);
}

/** EBADF for a closed fd, ENOTSOCK for a non-socket, EINVAL for a socket that is not a connected AF_UNIX stream. */
export function checkUnixStream(fd: number, syscall: string): void {
  let st;
  try {
    st = fstatSync(fd);
  } catch (e) {
    throw csError((e as CsError).code ?? 'EBADF', syscall, undefined, `fd ${fd}`);
  }
  if (!st.isSocket()) throw csError('ENOTSOCK', syscall, undefined, `fd ${fd} is not a socket`);
  if (intOption(fd, SO_DOMAIN) !== AF_UNIX || intOption(fd, SO_TYPE) !== SOCK_STREAM) {
    throw csError('EINVAL', syscall, undefined, `fd ${fd} is not an AF_UNIX stream socket`);
  }
  if (intOption(fd, SO_ACCEPTCONN) !== 0) throw csError('EINVAL', syscall, undefined, `fd ${fd} is a listening socket, not a connected stream`);
}

/** The cs path `<root>/fdp/<host>/<svc>/<perm>/S-cs.mnt` stands for, or null. */
function servicePath(address: string): string | null {
  const prefix = `${mountRoot()}/fdp/`;
  if (!address.startsWith(prefix)) return null;
  const m = /^([^/]+)\/([^/]+)\/[^/]+\/S-cs\.mnt$/.exec(address.slice(prefix.length));
  return m ? `/dev/fdp/${isThisHost(m[1]) ? 'local' : m[1]}/${m[2]}` : null;
}

/**
 * The name of connected AF_UNIX stream `fd`: the cs path of the service socket at
 * either end (the peer's for a client, its own for an accepted stream), else
 * `unix:<address>` (`unix:` for an unnamed pair). Throws as checkUnixStream.
 */
export function unixStreamPath(fd: number, syscall: string): string {
  checkUnixStream(fd, syscall);
  let peer: string;
  try {
    peer = localUnixPath(fd, true);
  } catch (e) {
    throw csError((e as CsError).code, syscall, undefined, `fd ${fd} is not connected`);
  }
  const own = localUnixPath(fd);
  return servicePath(peer) ?? servicePath(own) ?? `unix:${peer || own}`;
}
