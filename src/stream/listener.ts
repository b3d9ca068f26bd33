// The async API's server: accepts connections on a service's listening stream,
// runs each rendezvous without blocking, and hands out Connections with their
// kernel-verified .peer, as an EventEmitter and as an async iterable.
import { close, Watcher } from '../sys';
import { removeRecords, type MountDir } from '../namespace';
import { Acceptor } from './acceptor';
import { Arrivals } from './arrivals';
import { greet, tryFinishAccept } from './listen';
import { Connection } from './connection';
import { forget } from './registry';
import { handshakeTimeout, runAsync } from '../io';

export class Listener extends Arrivals<Connection> {
  #acceptor: Acceptor;
  #listening = true;
  #closed = false;

  /** Takes ownership of `fd`, a non-blocking listening stream for `path`. */
  constructor(readonly fd: number, readonly path: string, readonly md?: MountDir) {
    super(true);
    this.#acceptor = new Acceptor(fd, path, {
      accepted: (stream) => void this.admit(() => this.#handshake(stream)),
      paused: (e) => this.emit('clientError', e),
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  async #handshake(fd: number): Promise<void> {
    const watcher = new Watcher(fd);
    try {
      const id = greet(fd, this.md, this.path);
      const r = await runAsync(watcher, 'r', () => tryFinishAccept(fd, id, this.path), { ms: handshakeTimeout(), what: 'accept', path: this.path });
      if (this.#closed) throw new Error('listener closed');
      this.deliver(new Connection(fd, this.path, watcher, id, r.cs, r.args));
    } catch (e) {
      watcher.close();
      close(fd);
      if (this.listenerCount('clientError') > 0) this.emit('clientError', e);
    }
  }

  unref(): this {
    this.#acceptor.unref();
    return this;
  }

  ref(): this {
    this.#acceptor.ref();
    return this;
  }

  /** Removes S-cs.mnt and P-cs.mnt when this process is the recorded server. */
  protected stopListening(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#acceptor.close();
    forget(this.fd);
    if (this.md) removeRecords(this.md);
    close(this.fd);
  }

  /** Stop listening, at once (the promise resolves then); clients in their rendezvous are dropped (stopAccepting() finishes them). */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.stopListening();
    this.endArrivals();
    this.emit('close');
    return Promise.resolve();
  }
}
