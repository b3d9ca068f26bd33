// One CAPS connection: frames out in batches (one sendmsg, SCM_RIGHTS carrying the
// batch's descriptors) and frames in, each header claiming its descriptors from a FIFO;
// reading stops while the handler says the peer holds too much. Each frame names the
// process that wrote it (SCM_CREDENTIALS: both ends have SO_PASSCRED from birth).
import { constants } from 'node:os';
import {
  closeAll, close, csError, errnoError, recvFds, sendFds, EAGAIN, MAX_MSG_DATA, Watcher, type CsError, type MsgCred,
} from '../sys';
import type { Budget } from './budget';
import { CAPS_MAXFDS } from './constants';
import { HEADER_SIZE, readHeader, writeHeader, type Header } from './frame';

export interface LinkHandler {
  /**
   * A checked frame arrived, written by `cred` (null: the kernel attached no
   * credentials). `payload` and `fds` become the handler's when it returns;
   * throwing closes the link (and the descriptors) with that error.
   */
  onFrame(h: Header, payload: Buffer, fds: number[], cred: MsgCred | null): void;
  /** Whether to read more now; checked before every read. When it turns true again, call resume(). */
  mayRead(): boolean;
  /** The link closed: peer gone (err null), a failure, or close(). Called once. */
  onClose(err: CsError | null): void;
}

/** Output this large is sent at once instead of at the end of the current task. */
const FLUSH_NOW = 2048;
/** Each link's own first output block; more output goes on in shared BLOCK-byte blocks, frames running on from one to the next. */
const FIRST_BLOCK = 4096;
const BLOCK = MAX_MSG_DATA;
/** Emptied shared blocks kept for reuse, at most SPARE of them. */
const spare: Buffer[] = [];
const SPARE = 8;
/** Full reads per readiness event, so one busy peer cannot starve the others. */
const MAX_READS = 32;
const EMPTY = Buffer.alloc(0);
const NO_FDS: readonly number[] = [];

const rx = Buffer.allocUnsafe(MAX_MSG_DATA);
/** A frame header that does not fit in what is left of a block. */
const scratch = Buffer.allocUnsafe(HEADER_SIZE);

function sameWriter(a: MsgCred | null, b: MsgCred | null): boolean {
  return a === b || (a !== null && b !== null && a.pid === b.pid && a.uid === b.uid && a.gid === b.gid);
}

function recycle(block: Buffer): void {
  if (block.length === BLOCK && spare.length < SPARE) spare.push(block);
}

/** Links with queued output, flushed together once the current task is done. */
const dirty = new Set<Link>();
let flushScheduled = false;

function flushDirty(): void {
  flushScheduled = false;
  for (const l of dirty) l.flush(); // flush() takes the link out of the set
}

export class ProtocolError extends Error {}

/** A protocol violation by the peer: closes the link with EPROTO. */
export function violation(detail: string): ProtocolError {
  return new ProtocolError(detail);
}

/**
 * Linux hands over a sendmsg's descriptors with its first byte and never reads past
 * them in one recvmsg, so a frame's descriptors arrive no later than its header:
 * the receiver queues what arrives and each header takes its count from the front.
 * With SO_PASSCRED it never joins bytes of two writers (different pid, uid or gid) in
 * one recvmsg either, so every read has one writer. A frame whose bytes, or whose
 * descriptors, came from different writers (processes sharing the stream whose writes
 * interleaved mid-frame) cannot be attributed and closes the link (EPROTO).
 */
export class Link {
  /**
   * Output in blocks, so a peer that does not read costs what it has not read and no
   * copies of it: from #head in the first block to #tail in the last.
   */
  #first = Buffer.allocUnsafe(FIRST_BLOCK);
  #blocks: Buffer[] = [this.#first];
  #head = 0;
  #tail = 0;
  #unsent = 0;
  /** Bytes sent so far: the stream position of #head. */
  #sent = 0;
  /** Descriptors of queued frames (owned), by the stream position of their frame. */
  #marks: { at: number; fds: number[] }[] = [];
  #fifo: number[] = [];
  /** Who sent the descriptors queued in #fifo. */
  #fifoCred: MsgCred | null = null;
  /** Who wrote the bytes being parsed, and so the frame begun last. */
  #cred: MsgCred | null = null;
  #h: Header = { length: 0, type: 0, nfds: 0, arg: 0, id: 0 };
  #hdr = Buffer.allocUnsafe(HEADER_SIZE);
  #hdrHave = 0;
  /** The frame whose payload is still arriving. */
  #cur: { h: Header; payload: Buffer; have: number; fds: number[] } | null = null;
  #closed = false;
  #reading = false;
  #readArmed = false;
  #writeArmed = false;
  #closeWhenFlushed = false;

  /** Takes ownership of `fd` (connected, non-blocking) and its watcher; unsent output counts against `budget`. */
  constructor(
    readonly fd: number, readonly watcher: Watcher, readonly path: string, private readonly handler: LinkHandler,
    private readonly budget: Budget | null = null,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** Output waits to be sent. */
  get pending(): boolean {
    return this.#unsent > 0;
  }

  /** Bytes of output not sent yet. */
  get unsent(): number {
    return this.#unsent;
  }

  /** Input is wanted now (the handler allows it). */
  get readable(): boolean {
    return !this.#closed && this.handler.mayRead();
  }

  /** Queue one frame; `fds` become the link's (closed once sent). */
  send(type: number, id: number, arg = 0, payload: Uint8Array = EMPTY, fds: number[] = []): void {
    if (this.#closed || this.#closeWhenFlushed) return closeAll(fds);
    const size = HEADER_SIZE + payload.length;
    if (fds.length > 0) this.#marks.push({ at: this.#sent + this.#unsent, fds });
    const last = this.#blocks[this.#blocks.length - 1]!;
    if (this.#tail + HEADER_SIZE <= last.length) {
      writeHeader(last, this.#tail, payload.length, type, fds.length, arg, id);
      this.#tail += HEADER_SIZE;
    } else {
      writeHeader(scratch, 0, payload.length, type, fds.length, arg, id);
      this.#append(scratch);
    }
    this.#append(payload);
    this.#unsent += size;
    this.budget?.add(size);
    if (this.#unsent >= FLUSH_NOW) {
      this.flush();
    } else {
      dirty.add(this);
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flushDirty);
      }
    }
  }

  #append(src: Uint8Array): void {
    for (let from = 0; from < src.length;) {
      let last = this.#blocks[this.#blocks.length - 1]!;
      if (this.#tail === last.length) {
        last = spare.pop() ?? Buffer.allocUnsafe(BLOCK);
        this.#blocks.push(last);
        this.#tail = 0;
      }
      const n = Math.min(src.length - from, last.length - this.#tail);
      last.set(n === src.length ? src : src.subarray(from, from + n), this.#tail);
      this.#tail += n;
      from += n;
    }
  }

  /** Send what is queued without blocking; true when nothing is left. */
  flush(): boolean {
    dirty.delete(this);
    while (!this.#closed && this.#unsent > 0) {
      const block = this.#blocks[0]!;
      const stop = this.#blocks.length === 1 ? this.#tail : block.length;
      let end = this.#sent + Math.min(stop - this.#head, MAX_MSG_DATA);
      let fds: readonly number[] = NO_FDS; // most batches carry none: no array for them
      let k = 0;
      for (; k < this.#marks.length && this.#marks[k]!.at < end; k++) {
        const m = this.#marks[k]!;
        if (fds.length + m.fds.length > CAPS_MAXFDS) {
          end = m.at; // that frame starts the next batch
          break;
        }
        fds = fds === NO_FDS ? m.fds.slice() : fds.concat(m.fds);
      }
      const n = sendFds(this.fd, block.subarray(this.#head, this.#head + end - this.#sent), fds);
      if (n === -EAGAIN) {
        this.#armWrite();
        return false;
      }
      if (n < 0) {
        this.#peerGone(errnoError(-n, 'sendmsg', this.path));
        return false;
      }
      // the kernel duplicated the descriptors into the message: ours can go
      if (k > 0) {
        for (let i = 0; i < k; i++) closeAll(this.#marks[i]!.fds);
        this.#marks.splice(0, k);
      }
      this.#head += n;
      this.#sent += n;
      this.#unsent -= n;
      if (this.#head === block.length && this.#blocks.length > 1) {
        recycle(this.#blocks.shift()!);
        this.#head = 0;
      }
      this.budget?.release(n);
      this.#armRead(); // less output held: the handler may let reading go on
    }
    if (this.#closed) return false;
    this.#empty();
    if (this.#closeWhenFlushed) this.close();
    return true;
  }

  #armWrite(): void {
    if (this.#writeArmed || this.#closed) return;
    this.#writeArmed = true;
    this.watcher.onWritable(() => {
      this.#writeArmed = false;
      this.flush();
    });
  }

  /** Keep reading from the event loop while `on` (the port has someone to deliver to). */
  watchReads(on: boolean): void {
    this.#reading = on;
    if (on) this.#armRead();
    else if (this.#readArmed) {
      this.#readArmed = false;
      this.watcher.cancel(this.#onReadable);
    }
  }

  /** The handler allows reading again: pick it up from the event loop. */
  resume(): void {
    this.#armRead();
  }

  #armRead(): void {
    if (this.#readArmed || !this.#reading || this.#closed || !this.handler.mayRead()) return;
    this.#readArmed = true;
    this.watcher.onReadable(this.#onReadable);
  }

  #onReadable = (): void => {
    this.#readArmed = false;
    this.readAvailable();
    this.#armRead();
  };

  /** Read and dispatch whatever has arrived, without blocking, while the handler allows it. */
  readAvailable(): void {
    for (let i = 0; i < MAX_READS && !this.#closed && this.handler.mayRead(); i++) {
      const r = recvFds(this.fd, rx, CAPS_MAXFDS);
      if (r.n === -EAGAIN) return;
      if (r.fds.length > 0) {
        const mixed = this.#fifo.length > 0 && !sameWriter(this.#fifoCred, r.cred);
        for (const fd of r.fds) this.#fifo.push(fd);
        if (mixed) return this.close(csError('EPROTO', 'recvmsg', this.path, 'descriptors from two processes are waiting for their frames'));
        this.#fifoCred = r.cred;
      }
      if (r.truncated) return this.close(csError('EPROTO', 'recvmsg', this.path, 'the peer sent more descriptors than a frame may carry'));
      if (r.n < 0) return this.close(-r.n === constants.errno.ECONNRESET ? null : errnoError(-r.n, 'recvmsg', this.path));
      if (r.n === 0) return this.close(null);
      if ((this.#cur || this.#hdrHave > 0) && !sameWriter(this.#cred, r.cred)) {
        return this.close(csError('EPROTO', 'recvmsg', this.path, `a frame begun by pid ${this.#cred?.pid ?? '?'} goes on in bytes written by pid ${r.cred?.pid ?? '?'}`));
      }
      this.#cred = r.cred;
      this.#parse(r.n);
      // a short read most likely emptied the socket: readiness says if not, sparing a recvmsg that finds nothing
      if (r.n < rx.length) return;
    }
  }

  #parse(n: number): void {
    let off = 0;
    while (off < n && !this.#closed) {
      const cur = this.#cur;
      if (cur) {
        const take = Math.min(cur.h.length - cur.have, n - off);
        rx.copy(cur.payload, cur.have, off, off + take);
        cur.have += take;
        off += take;
        if (cur.have === cur.h.length) {
          this.#cur = null;
          this.#deliver(cur.h, cur.payload, cur.fds);
        }
        continue;
      }
      let problem: string | null;
      if (this.#hdrHave === 0 && n - off >= HEADER_SIZE) {
        problem = readHeader(rx, off, this.#h);
        off += HEADER_SIZE;
      } else {
        const take = Math.min(HEADER_SIZE - this.#hdrHave, n - off);
        rx.copy(this.#hdr, this.#hdrHave, off, off + take);
        this.#hdrHave += take;
        off += take;
        if (this.#hdrHave < HEADER_SIZE) break;
        this.#hdrHave = 0;
        problem = readHeader(this.#hdr, 0, this.#h);
      }
      const h = this.#h;
      if (problem === null && h.nfds > this.#fifo.length) problem = `a frame announces ${h.nfds} descriptors but ${this.#fifo.length} arrived`;
      if (problem === null && h.nfds > 0 && !sameWriter(this.#cred, this.#fifoCred)) problem = 'a frame claims descriptors another process sent';
      if (problem !== null) return this.close(csError('EPROTO', 'recvmsg', this.path, problem));
      const fds = h.nfds === 0 ? [] : this.#fifo.splice(0, h.nfds);
      if (h.length === 0) {
        this.#deliver(h, EMPTY, fds);
      } else if (n - off >= h.length) {
        const payload = Buffer.from(rx.subarray(off, off + h.length));
        off += h.length;
        this.#deliver(h, payload, fds);
      } else {
        const payload = Buffer.allocUnsafe(h.length);
        rx.copy(payload, 0, off, n);
        this.#cur = { h: { ...h }, payload, have: n - off, fds };
        off = n;
      }
    }
    // a peer that sends descriptors no frame claims is hoarding ours
    if (this.#fifo.length > CAPS_MAXFDS) this.close(csError('EPROTO', 'recvmsg', this.path, `${this.#fifo.length} descriptors arrived without frames`));
  }

  #deliver(h: Header, payload: Buffer, fds: number[]): void {
    try {
      this.handler.onFrame(h, payload, fds, this.#cred);
    } catch (e) {
      closeAll(fds);
      const err = e instanceof ProtocolError ? csError('EPROTO', 'recvmsg', this.path, e.message) : (e as CsError);
      this.close(err);
    }
  }

  /** The peer stopped reading: surface what it sent before it went, then close. */
  #peerGone(err: CsError): void {
    this.#dropOutput();
    this.readAvailable();
    const code = err.code;
    this.close(code === 'EPIPE' || code === 'ECONNRESET' ? null : err);
  }

  #dropOutput(): void {
    for (const m of this.#marks) closeAll(m.fds);
    this.#marks = [];
    this.budget?.release(this.#unsent);
    this.#sent += this.#unsent;
    this.#unsent = 0;
    this.#empty();
    dirty.delete(this);
  }

  /** Nothing is unsent: back to the link's own small block, the shared ones go back for reuse. */
  #empty(): void {
    if (this.#blocks.length > 1 || this.#blocks[0] !== this.#first) {
      for (const b of this.#blocks) recycle(b);
      this.#blocks.length = 0;
      this.#blocks.push(this.#first);
    }
    this.#head = this.#tail = 0;
  }

  /** Close once the queued output is sent (or at once if the peer is gone). */
  closeWhenFlushed(): void {
    this.#closeWhenFlushed = true;
    this.flush();
  }

  close(err: CsError | null = null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropOutput();
    this.watcher.close();
    close(this.fd);
    closeAll(this.#fifo);
    this.#fifo = [];
    if (this.#cur) closeAll(this.#cur.fds);
    this.#cur = null;
    this.handler.onClose(err);
  }
}
