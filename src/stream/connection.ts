// The async API's stream: a Node Duplex over a cs stream fd for bytes, plus
// sendFds/recvFds for cssend records, all driven by libuv readiness (no blocking).
// Like a net.Socket it reads ahead up to its highWaterMark without waiting for a
// reader, so a peer's close ends and closes it by itself. Its reader receives with
// a control buffer and keeps a record that arrives among the bytes, descriptors
// and all, for recvFds().
import { constants } from 'node:os';
import { Duplex } from 'node:stream';
import {
  abortError, close, closeAll, csError, errnoError, inqRaw, passCred, peekFds, recvChunks, recvQueued, shutdown, socketpair, writeRaw, Watcher,
  EAGAIN, SOCK_NONBLOCK, SOCK_STREAM, LANDING, LANDING_MAX, MAX_FDS_PER_MSG, MAX_MSG_DATA, QUEUED_MAX, SHUT_WR, type CsError, type Received,
} from '../sys';
import type { CsId } from './flags';
import { checkRecord, kernelId, peerClosed, trySendRecord, RECORD_SIZE } from './record';
import { forget, remember } from './registry';
import { isNetPath } from '../path';
import { adopt, runAsync, AGAIN } from '../io';
import { unixStreamPath } from './attach';

/**
 * What one read of an fdp stream lands in 64 KiB Buffers that become the chunks (it takes
 * all that is queued, recvQueued: past this the bytes are copied out of reserved memory).
 */
export const READ_MAX = LANDING_MAX;
/** A queue this small ends a bulk transfer's sized reads (see #read). */
const SMALL_QUEUE = 4096;
/** Reads per readiness event before other work gets the loop back. */
const READS_PER_EVENT = 16;
/** Records kept unclaimed before reading pauses until recvFds() takes one. */
const RECORDS_AHEAD = 16;
/** Unread bytes buffered for a recvFds() whose record lies behind them. */
const BYTES_AHEAD = 1 << 20;

export interface FdOptions {
  signal?: AbortSignal;
}

/** A record as it arrived: the message and its bytes (the tail of the chunk it came in). */
interface Arrived {
  r: Received;
  bytes: Uint8Array;
}

interface Waiter {
  resolve(a: Arrived): void;
  reject(e: Error): void;
}

export class Connection extends Duplex {
  #watcher: Watcher;
  /** The peer's identity, from the kernel (for a client: the server's). */
  readonly peer: CsId;
  /** On a server's connection: the client's `/#` argument split at `/#`, else null. */
  readonly args: string[] | null;
  #fdClosed = false;
  /** Aborts sendFds waits still pending when the connection is destroyed; made by the first sendFds that has to wait, so a plain close builds no error. */
  #closing: AbortController | null = null;
  /** Records travel on this stream (fdp); reads then end on message boundaries. */
  readonly #fdp: boolean;
  #armed = false;
  /** The byte side asked for more (_read) and has not been refused by push() since. */
  #wantBytes = false;
  /** Reads are large: size them by FIONREAD (see #read). */
  #sized = false;
  /** The last #read most likely emptied the socket. */
  #drained = false;
  /** The kernel reported the end of the stream. */
  #eof = false;
  #ended = false;
  #records: Arrived[] = [];
  #waiters: Waiter[] = [];
  /** The peer speaks cs (its greeting or a record said so): records with descriptors go to it in the cs form. */
  #csPeer: boolean;

  /** Takes ownership of `fd`, a connected non-blocking stream (fdp: with SO_PASSCRED), and its watcher; `csPeer`: the peer is known to speak cs; `args`: a server's client's `/#` argument. */
  constructor(readonly fd: number, readonly path: string, watcher: Watcher, peer?: CsId, csPeer = false, args: string[] | null = null) {
    super({ allowHalfOpen: false });
    this.#watcher = watcher;
    this.#csPeer = csPeer;
    this.peer = peer ?? kernelId(fd);
    this.args = args;
    this.#fdp = !isNetPath(path);
    // this object forgets the entry when it closes the fd: no cookie to check
    remember(fd, path, undefined, this.peer, false, true);
    this.read(0); // start reading, as net.Socket does (readiness arrives from the event loop, never here)
  }

  /**
   * Wrap any connected AF_UNIX stream `fd` (inherited, from LISTEN_FDS, received in a
   * record); the Connection owns it from now on and makes it non-blocking. Its path
   * is the service's cs path when either end is a service socket of the namespace,
   * else `unix:<address>`. Throws EBADF, ENOTSOCK, or EINVAL for a socket that is not
   * a connected AF_UNIX stream (a listener included).
   */
  static attach(fd: number): Connection {
    const path = unixStreamPath(fd, 'attach');
    passCred(fd); // every record then names its own sender (streams cs made have it from birth)
    return new Connection(adopt(fd), path, new Watcher(fd));
  }

  /** Two connected Connections over a fresh socketpair (path `unix:`), each record naming its sender. */
  static pair(): [Connection, Connection] {
    const [a, b] = socketpair(SOCK_STREAM | SOCK_NONBLOCK);
    // before either can send, so even the first record carries its sender's credentials
    passCred(a);
    passCred(b);
    return [new Connection(a, 'unix:', new Watcher(a)), new Connection(b, 'unix:', new Watcher(b))];
  }

  #check(syscall: string): void {
    if (!this.#fdp) throw csError('EOPNOTSUPP', syscall, this.path, 'descriptors pass only on fdp streams');
    if (this.#fdClosed) throw csError('EBADF', syscall, this.path, 'the connection is closed');
  }

  /** Send descriptors as one cssend record, after every byte written before. */
  async sendFds(fds: number[], opts: FdOptions = {}): Promise<void> {
    this.#check('cssend');
    if (opts.signal?.aborted) throw abortError(opts.signal);
    if (this.writableLength > 0) await new Promise<void>((resolve, reject) => this.write(Buffer.alloc(0), (e) => (e ? reject(e) : resolve())));
    const cs = this.#csPeer && fds.length > 0; // descriptors mark a record among the bytes: without any, the libcs form
    const send = () => trySendRecord(this.fd, fds, this.path, cs);
    if (send() !== AGAIN) return; // the socket had room: no wait to abort
    const closing = (this.#closing ??= new AbortController()).signal;
    const signal = opts.signal ? AbortSignal.any([opts.signal, closing]) : closing;
    await runAsync(this.#watcher, 'w', send, { signal });
  }

  /**
   * Receive the next cssend record with at most `max` descriptors (the caller owns
   * them). Records come in the order sent, whatever the byte side has read.
   */
  async recvFds(opts: FdOptions & { max?: number } = {}): Promise<{ id: CsId; fds: number[] }> {
    this.#check('csrecv');
    const max = opts.max ?? 16;
    const a = this.#records.shift() ?? (await this.#nextRecord(opts.signal));
    this.#endIfDone();
    this.#arm();
    const r = checkRecord(a.r, a.bytes, max, this.path, () => this.peer);
    if (r.cs) this.#csPeer = true;
    return { id: r.id, fds: r.fds };
  }

  #nextRecord(signal?: AbortSignal): Promise<Arrived> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      if (this.#eof) return reject(peerClosed(this.path));
      const onAbort = () => {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        reject(abortError(signal!));
      };
      const w: Waiter = {
        resolve: (a) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(a);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(w);
      this.#arm();
    });
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
    this.#wantBytes = true;
    this.#arm();
  }

  /** Keep one readiness callback registered while anyone wants what the socket holds. */
  #arm(): void {
    if (this.#armed || this.#eof || this.#fdClosed) return;
    if ((!this.#wantBytes && this.#waiters.length === 0) || this.#records.length >= RECORDS_AHEAD) return;
    this.#armed = true;
    this.#watcher.onReadable(this.#onReadable);
  }

  // Re-registering inside the watcher's callback leaves its uv_poll started: no epoll_ctl per read.
  #onReadable = (): void => {
    this.#armed = false;
    this.#pull();
    this.#arm();
  };

  #pull(): void {
    for (let i = 0; i < READS_PER_EVENT; i++) {
      if (this.#eof || this.#fdClosed || this.#records.length >= RECORDS_AHEAD) return;
      if (!this.#wantBytes) {
        if (this.#waiters.length === 0) return;
        if (this.readableLength >= BYTES_AHEAD) {
          return this.#failWaiters(csError('ENOBUFS', 'csrecv', this.path, `${this.readableLength} bytes arrived before the record and nobody reads them`));
        }
      }
      const r = this.#read();
      if (r === null) return;
      if (r.n < 0) {
        this.#readFailed(r.n, 'recvmsg');
        return;
      }
      if (r.n === 0) return this.#endOfStream();
      const record = r.fds.length > 0 || r.truncated;
      if (record && r.full) {
        closeAll(r.fds);
        return void this.destroy(csError('EPROTO', 'recvmsg', this.path, `more than ${READ_MAX + QUEUED_MAX} bytes were queued with a record among them: where it ends is unknown`));
      }
      if (record) {
        // the read stopped right after the message that carried them: the record is the read's tail
        const cut = Math.max(0, r.n - RECORD_SIZE);
        this.#deliver({ r: { n: r.n - cut, fds: r.fds, truncated: r.truncated, cred: r.cred }, bytes: this.#pushUpTo(r.chunks, cut) });
      } else {
        for (const chunk of r.chunks) this.#pushBytes(chunk);
      }
      if (this.#drained) return;
    }
  }

  /**
   * One read that cannot stop inside a record (null: nothing to read now). A read
   * ends right after a message carrying descriptors, or where its buffer is full,
   * which is only a message boundary when it takes everything queued. While a recvFds()
   * waits and messages are small: one read of everything queued (recvQueued, which
   * cannot fill; no FIONREAD first). Bytes alone, or once reads are large (a bulk
   * transfer) until little is queued: reads sized by FIONREAD, which land whole in
   * their Buffers, and past READ_MAX stop where a peek found no descriptors.
   * Sets #drained: the read most likely emptied the socket (readiness says if not).
   */
  #read(): (Received & { chunks: Buffer[]; full?: boolean }) | null {
    this.#drained = false;
    if (!this.#fdp) return recvChunks(this.fd, LANDING, 0);
    if (!this.#sized && this.#waiters.length > 0) {
      const r = recvQueued(this.fd, MAX_FDS_PER_MSG + 1);
      if (r.n > LANDING) this.#sized = true;
      // it took all there was, or stopped after a record or before another writer's bytes:
      // readiness says whether more is there, sparing a read that would find nothing
      this.#drained = true;
      return r;
    }
    const queued = inqRaw(this.fd);
    if (queued < 0) {
      this.#readFailed(queued, 'ioctl');
      return null;
    }
    if (queued <= SMALL_QUEUE) this.#sized = false;
    if (queued === 0) {
      // readable with nothing queued: the end of the stream, an error, or data just arriving
      const p = peekFds(this.fd, 1);
      if (p.n === 0) this.#endOfStream();
      else if (p.n < 0) this.#readFailed(p.n, 'recvmsg');
      return null;
    }
    let want = queued;
    if (queued > READ_MAX) {
      const p = peekFds(this.fd, MAX_MSG_DATA);
      if (p.n < 0) this.#readFailed(p.n, 'recvmsg');
      if (p.n <= 0) return null;
      want = !p.truncated || p.n < MAX_MSG_DATA ? p.n : MAX_MSG_DATA - RECORD_SIZE; // a record ends at or after the peek's end: stop before it
    }
    const r = recvChunks(this.fd, want, MAX_FDS_PER_MSG + 1);
    this.#drained = queued <= READ_MAX && r.n === want;
    return r;
  }

  /** -EAGAIN: wait for readiness; ECONNRESET (the peer closed with data unread): the end; else fail. */
  #readFailed(n: number, syscall: string): 0 {
    if (n === -constants.errno.ECONNRESET) this.#endOfStream();
    else if (n !== -EAGAIN) this.destroy(errnoError(-n, syscall, this.path));
    return 0;
  }

  /** Push the first `cut` bytes of `chunks` and return the rest (the record's bytes). */
  #pushUpTo(chunks: Buffer[], cut: number): Buffer {
    const rest: Buffer[] = [];
    for (const c of chunks) {
      const take = Math.min(cut, c.length);
      if (take > 0) this.#pushBytes(c.subarray(0, take));
      if (take < c.length) rest.push(c.subarray(take));
      cut -= take;
    }
    return rest.length === 1 ? rest[0] : Buffer.concat(rest);
  }

  #pushBytes(data: Buffer): void {
    if (!this.push(data)) this.#wantBytes = false;
  }

  #deliver(a: Arrived): void {
    const w = this.#waiters.shift();
    if (w) w.resolve(a);
    else this.#records.push(a);
  }

  #failWaiters(e: Error): void {
    for (const w of this.#waiters.splice(0)) w.reject(e);
  }

  #endOfStream(): void {
    this.#eof = true;
    if (this.#waiters.length > 0) this.#failWaiters(peerClosed(this.path)); // an Error costs a stack capture: only for someone
    this.#endIfDone();
  }

  /** End the byte side once the peer has closed and every record it sent was taken: unclaimed ones hold it open, as unread bytes do. */
  #endIfDone(): void {
    if (!this.#eof || this.#ended || this.#records.length > 0 || this.#fdClosed) return;
    this.#ended = true;
    this.push(null);
    this.read(0); // ends at once when no bytes are buffered, as net.Socket does
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    let off = 0;
    const step = (): void => {
      while (off < chunk.length) {
        const n = writeRaw(this.fd, chunk.subarray(off));
        if (n < 0 && n !== -EAGAIN) return cb(errnoError(-n, 'write', this.path));
        if (n > 0) off += n;
        // a short write filled the socket buffer: the next try would only find it full
        if (off < chunk.length) return this.#watcher.onWritable(() => (this.destroyed ? cb() : step()));
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
      if (this.#closing || this.#waiters.length > 0) {
        const aborted = csError('ECONNABORTED', 'close', this.path, 'the connection was destroyed while waiting');
        this.#closing?.abort(aborted);
        this.#failWaiters(err ?? aborted);
      }
      for (const a of this.#records.splice(0)) closeAll(a.r.fds);
      this.#watcher.close();
      forget(this.fd);
      close(this.fd);
    }
    cb(err);
  }
}
