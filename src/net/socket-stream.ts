// The async API's tcp stream: the connected descriptor handed to Node's own TCP
// socket, so bytes move through libuv's stream machinery at plain `net` speed,
// plus what cs knows about it (its cs path and the peer's kernel identity).
import { Socket } from 'node:net';
import { csError } from '../sys';
import type { CsPath } from '../path';
import type { NetId } from './identity';
import { netOpenAsync, type NetOpenOptions, type NetStream } from './open';

export class NetSocket extends Socket {
  /** cspath of the stream: /dev/tcp/<address>/<port> of the peer. */
  readonly path: string;
  /** The peer's identity as the kernel (and, for `user`/`group` services, the handshake) established it. */
  readonly peer: NetId;
  /** The stream's descriptor, owned by Node's socket (dup it to keep it past destroy()). */
  readonly fd: number;

  /** Takes ownership of the stream: its watcher is closed and Node's socket owns the fd. */
  constructor(s: NetStream) {
    s.watcher.close();
    super({ fd: s.fd, readable: true, writable: true, allowHalfOpen: true });
    this.path = s.path;
    this.peer = s.peer;
    this.fd = s.fd;
  }

  /** Descriptors pass only on fdp streams: rejects with EOPNOTSUPP, as cssend does on tcp. */
  sendFds(_fds: readonly number[], _opts?: { signal?: AbortSignal }): Promise<never> {
    return Promise.reject(noDescriptors('sendFds', this.path));
  }

  /** Descriptors pass only on fdp streams: rejects with EOPNOTSUPP, as csrecv does on tcp. */
  recvFds(_opts?: { max?: number; signal?: AbortSignal }): Promise<never> {
    return Promise.reject(noDescriptors('recvFds', this.path));
  }
}

function noDescriptors(syscall: string, path: string): Error {
  return csError('EOPNOTSUPP', syscall, path, 'descriptors pass only on fdp streams');
}

/** Connect to tcp path `p` as a NetSocket (udp streams are datagrams: use netOpenAsync). */
export async function netConnect(p: CsPath, opts: NetOpenOptions = {}): Promise<NetSocket> {
  if (p.proto !== 'tcp') throw csError('EINVAL', 'open', p.canonical, 'not a tcp path');
  return new NetSocket(await netOpenAsync(p, opts));
}
