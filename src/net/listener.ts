// The async API's tcp server: accepts on a service's listening socket, runs each
// client's access handshake without blocking, and hands out NetSockets with their
// peer identity, as 'connection' events and as an async iterable.
import { EventEmitter, on } from 'node:events';
import { close, csError, Watcher } from '../sys';
import { removeRecords, type MountDir } from '../namespace';
import type { CsPath } from '../path';
import { forget } from '../stream/registry';
import type { NetId } from './identity';
import { netPath } from './netpath';
import { acceptNet, admitAsync, netCreate, netServerDir } from './server';
import { NetSocket } from './socket-stream';

export class NetListener extends EventEmitter implements AsyncIterable<NetSocket> {
  /** cspath of the listener: /dev/tcp/<address>/<port>. */
  readonly path: string;
  #watcher: Watcher;
  #closed = false;

  /** Takes ownership of `fd`, a non-blocking tcp listening socket serving mount directory `md`. */
  constructor(readonly fd: number, readonly md: MountDir) {
    super();
    this.path = netPath(fd);
    this.#watcher = new Watcher(fd);
    this.#arm();
  }

  #arm(): void {
    if (!this.#closed) this.#watcher.onReadable(() => this.#acceptAll());
  }

  #acceptAll(): void {
    if (this.#closed) return;
    try {
      for (let r; (r = acceptNet(this.fd)); ) this.#admit(r.fd, r.id);
    } catch (e) {
      this.emit('clientError', e); // EMFILE and the like: try again at the next readiness
    }
    this.#arm();
  }

  async #admit(fd: number, id: NetId): Promise<void> {
    const watcher = new Watcher(fd);
    try {
      const peer = await admitAsync(fd, watcher, id, this.md, this.md.path);
      if (this.#closed) throw new Error('listener closed');
      this.emit('connection', new NetSocket({ fd, watcher, path: netPath(fd), peer }));
    } catch (e) {
      watcher.close();
      close(fd);
      if (this.listenerCount('clientError') > 0) this.emit('clientError', e);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Connections as they are admitted, until the listener closes. */
  async *[Symbol.asyncIterator](): AsyncIterator<NetSocket> {
    if (this.#closed) return;
    for await (const [socket] of on(this, 'connection', { close: ['close'] })) yield socket as NetSocket;
  }

  unref(): this {
    this.#watcher.unref();
    return this;
  }

  ref(): this {
    this.#watcher.ref();
    return this;
  }

  /** Stop listening; removes the namespace record when this process made it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close();
    forget(this.fd);
    removeRecords(this.md);
    close(this.fd);
    this.emit('close');
  }
}

/** Create the tcp service `p` and accept its connections. */
export function netListen(p: CsPath): NetListener {
  if (p.proto !== 'tcp') throw csError('EINVAL', 'listen', p.canonical, 'not a tcp path');
  return new NetListener(netCreate(p), netServerDir(p));
}
