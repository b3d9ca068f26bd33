// The async API's stream: a Node Duplex over a cs stream fd for bytes, plus
// sendFds/recvFds for cssend records, all driven by libuv readiness (no blocking).
import { Duplex } from 'node:stream';
import {
  close, csError, errnoError, readRaw, shutdown, writeRaw, Watcher, EAGAIN, SHUT_WR, type CsError,
} from '../sys';
import type { CsId } from './flags';
import { kernelId, trySendRecord, tryRecvRecord } from './record';
import { forget, remember } from './registry';
import { isNetPath } from './resolve';
import { runAsync } from './wait';

const READ_CHUNK = 64 * 1024;

export interface FdOptions {
  signal?: AbortSignal;
}

export class Connection extends Duplex {
  #watcher: Watcher;
  /** The peer's identity, from the kernel (for a client: the server's). */
  readonly peer: CsId;
  #fdClosed = false;
  /** Aborts waits still pending when the connection is destroyed. */
  #closing = new AbortController();

  /** Takes ownership of `fd`, a connected non-blocking stream, and its watcher. */
  constructor(readonly fd: number, readonly path: string, watcher: Watcher, peer?: CsId) {
    super({ allowHalfOpen: true });
    this.#watcher = watcher;
    this.peer = peer ?? kernelId(fd);
    remember(fd, path);
  }

  #signal(user?: AbortSignal): AbortSignal {
    if (isNetPath(this.path)) throw csError('EOPNOTSUPP', 'csrecv', this.path, 'descriptors pass only on fdp streams');
    if (this.#fdClosed) throw csError('EBADF', 'csrecv', this.path, 'the connection is closed');
    return user ? AbortSignal.any([user, this.#closing.signal]) : this.#closing.signal;
  }

  /** Send descriptors as one cssend record, after every byte written before. */
  async sendFds(fds: number[], opts: FdOptions = {}): Promise<void> {
    const signal = this.#signal(opts.signal);
    if (this.writableLength > 0) await new Promise<void>((resolve, reject) => this.write(Buffer.alloc(0), (e) => (e ? reject(e) : resolve())));
    await runAsync(this.#watcher, 'w', () => trySendRecord(this.fd, fds, this.path), { signal });
  }

  /** Receive one cssend record with at most `max` descriptors (the caller owns them). */
  async recvFds(opts: FdOptions & { max?: number } = {}): Promise<{ id: CsId; fds: number[] }> {
    const signal = this.#signal(opts.signal);
    const max = opts.max ?? 16;
    return runAsync(this.#watcher, 'r', () => tryRecvRecord(this.fd, max, this.path, this.peer), { signal });
  }

  /** Let the process exit while this connection is idle. */
  unref(): this {
    this.#watcher.unref();
    return this;
  }

  ref(): this {
    this.#watcher.ref();
    return this;
  }

  override _read(): void {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    const n = readRaw(this.fd, buf);
    if (n > 0) this.push(buf.subarray(0, n));
    else if (n === 0) this.push(null);
    else if (n === -EAGAIN) this.#watcher.onReadable(() => !this.destroyed && this._read());
    else this.destroy(errnoError(-n, 'read', this.path));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let off = 0;
    const step = (): void => {
      while (off < chunk.length) {
        const n = writeRaw(this.fd, chunk.subarray(off));
        if (n === -EAGAIN) return this.#watcher.onWritable(() => (this.destroyed ? cb() : step()));
        if (n < 0) return cb(errnoError(-n, 'write', this.path));
        off += n;
      }
      cb();
    };
    step();
  }

  override _final(cb: (err?: Error | null) => void): void {
    try {
      shutdown(this.fd, SHUT_WR);
      cb();
    } catch (e) {
      cb((e as CsError).code === 'ENOTCONN' ? null : (e as Error));
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.#fdClosed) {
      this.#fdClosed = true;
      this.#closing.abort(csError('ECONNABORTED', 'close', this.path, 'the connection was destroyed while waiting'));
      this.#watcher.close();
      forget(this.fd);
      close(this.fd);
    }
    cb(err);
  }
}
