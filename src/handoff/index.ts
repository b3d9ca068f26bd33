// Node sockets passed between unrelated processes over a cs Connection: a received
// connected socket becomes a net.Socket, a received listening socket is served by a
// net.Server / http.Server. Every descriptor has one owner at a time: the sender
// gives its copy up once the record is out, the receiving Node object closes the fd.
import * as net from 'node:net';
import { once } from 'node:events';
import {
  close, csError, getsockoptInt, AF_INET, AF_INET6, AF_UNIX, SOCK_STREAM, SOL_SOCKET, SO_ACCEPTCONN, SO_DOMAIN, SO_TYPE,
} from '../sys';
import type { Connection, FdOptions } from '../stream';

/** The descriptor under a Node socket or server (libuv's, on Linux). */
interface Handled {
  _handle?: { fd?: number; reading?: boolean } | null;
}

/** Throws unless `fd` is a stream socket of a family Node can adopt, listening or not as asked. */
function checkStream(fd: number, listening: boolean, syscall: string): void {
  const domain = getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
  if (domain !== AF_UNIX && domain !== AF_INET && domain !== AF_INET6) {
    throw csError('EAFNOSUPPORT', syscall, undefined, `fd ${fd} is not a TCP or Unix socket`);
  }
  if (getsockoptInt(fd, SOL_SOCKET, SO_TYPE) !== SOCK_STREAM) throw csError('EPROTOTYPE', syscall, undefined, `fd ${fd} is not a stream socket`);
  if ((getsockoptInt(fd, SOL_SOCKET, SO_ACCEPTCONN) !== 0) !== listening) {
    throw csError('EINVAL', syscall, undefined, listening ? `fd ${fd} is not listening` : `fd ${fd} is a listening socket (serve it with adoptServer)`);
  }
}

/**
 * A net.Socket on `fd`, a connected TCP or Unix stream socket. The socket owns fd
 * from then on (destroying it closes fd); when this throws, fd is still the caller's.
 */
export function adoptSocket(fd: number): net.Socket {
  checkStream(fd, false, 'adoptSocket');
  return new net.Socket({ fd, readable: true, writable: true });
}

/**
 * Make `server` (a net.Server or http.Server) serve `fd`, a listening TCP or Unix
 * socket; resolves once it listens. If the checks throw, fd is still the caller's;
 * once listen() is called the server owns fd and server.close() closes it.
 */
export async function adoptServer<S extends net.Server>(fd: number, server: S): Promise<S> {
  checkStream(fd, true, 'adoptServer');
  server.listen({ fd });
  await once(server, 'listening');
  return server;
}

/**
 * Send the socket under `socket` (a net.Socket nothing has read from: accept with
 * `pauseOnConnect: true`) or `server` (a listening net.Server) as one cssend record,
 * then give this process's copy up: the socket is destroyed, the server closed,
 * which shuts nothing down since the receiver holds the same kernel socket. If the
 * send fails the object is left as it was.
 */
export async function sendSocket(conn: Connection, socket: net.Socket | net.Server, opts: FdOptions = {}): Promise<void> {
  const handle = (socket as Handled)._handle;
  const fd = handle?.fd;
  if (fd === undefined || fd < 0) throw csError('EBADF', 'sendSocket', conn.path, 'the socket has no open descriptor');
  if (socket instanceof net.Socket && (handle!.reading || socket.bytesRead > 0)) {
    throw csError('EINVAL', 'sendSocket', conn.path, 'this process reads from the socket (accept with pauseOnConnect: true)');
  }
  await conn.sendFds([fd], opts);
  if (socket instanceof net.Socket) socket.destroy();
  else socket.close();
}

/** Receive one cssend record carrying exactly one descriptor; closes what arrived if not. */
async function recvOne(conn: Connection, opts: FdOptions, syscall: string): Promise<number> {
  const { fds } = await conn.recvFds({ ...opts, max: 1 });
  if (fds.length !== 1) throw csError('EPROTO', syscall, conn.path, 'the record carries no descriptor');
  return fds[0];
}

/** Receive a connected socket sent by sendSocket (or any cssend of one) as a net.Socket. */
export async function recvSocket(conn: Connection, opts: FdOptions = {}): Promise<net.Socket> {
  const fd = await recvOne(conn, opts, 'recvSocket');
  try {
    return adoptSocket(fd);
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** Receive a listening socket sent by sendSocket and make `server` serve it. */
export async function recvServer<S extends net.Server>(conn: Connection, server: S, opts: FdOptions = {}): Promise<S> {
  const fd = await recvOne(conn, opts, 'recvServer');
  try {
    checkStream(fd, true, 'recvServer');
  } catch (e) {
    close(fd);
    throw e;
  }
  return adoptServer(fd, server);
}
