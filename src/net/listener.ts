// The async API's tcp server: accepts on a service's listening socket, runs each
// client's access handshake without blocking, and hands out NetSockets with their
// peer identity, as 'connection' events and as an async iterable (queued until asked).
import { close, csError, Watcher } from '../sys';
import { removeRecords, type MountDir } from '../namespace';
import type { CsPath } from '../path';
import { Acceptor } from '../stream/acceptor';
import { Arrivals } from '../stream/arrivals';
import { forget } from '../stream/registry';
import type { NetId } from './identity';
import { netPath } from './netpath';
import { admitAsync, netCreate, netServerDir, netStreamId } from './server';
import { NetSocket } from './socket-stream';

export class NetListener extends Arrivals<NetSocket> {
  /** cspath of the listener: /dev/tcp/<address>/<port>. */
  readonly path: string;
  #acceptor: Acceptor;
  #listening = true;
  #closed = false;

  /** Takes ownership of `fd`, a non-blocking tcp listening socket serving mount directory `md`. */
  constructor(readonly fd: number, readonly md: MountDir) {
    super(false);
    this.path = netPath(fd);
    this.#acceptor = new Acceptor(fd, this.path, {
      accepted: (stream) => this.#accepted(stream),
      paused: (e) => this.emit('clientError', e),
    });
  }

  #accepted(fd: number): void {
    let id: NetId;
    try {
      id = netStreamId(fd);
    } catch (e) {
      this.emit('clientError', e); // the peer left before we asked who it is
      return;
    }
    void this.admit(() => this.#admit(fd, id));
  }

  async #admit(fd: number, id: NetId): Promise<void> {
    const watcher = new Watcher(fd);
    try {
      const peer = await admitAsync(fd, watcher, id, this.md, this.md.path);
      if (this.#closed) throw new Error('listener closed');
      this.deliver(new NetSocket({ fd, watcher, path: netPath(fd), peer }));
    } catch (e) {
      watcher.close();
      close(fd);
      if (this.listenerCount('clientError') > 0) this.emit('clientError', e);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  unref(): this {
    this.#acceptor.unref();
    return this;
  }

  ref(): this {
    this.#acceptor.ref();
    return this;
  }

  /** Removes the namespace record when this process made it. */
  protected stopListening(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#acceptor.close();
    forget(this.fd);
    removeRecords(this.md);
    close(this.fd);
  }

  /** Stop listening, at once (the promise resolves then); clients in their handshake are dropped (stopAccepting() finishes them). */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.stopListening();
    this.endArrivals();
    this.emit('close');
    return Promise.resolve();
  }
}

/** Create the tcp service `p` and accept its connections. */
export function netListen(p: CsPath): NetListener {
  if (p.proto !== 'tcp') throw csError('EINVAL', 'listen', p.canonical, 'not a tcp path');
  return new NetListener(netCreate(p), netServerDir(p));
}
