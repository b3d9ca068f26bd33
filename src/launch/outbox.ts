// A serveLoop client's unsent output: bytes and descriptors queued in order and sent
// as fast as the client reads them, so no handler ever waits on one client. The
// loop stops reading a client whose output is over its bound, and every client with
// output waiting while the service's total is over the service's bound.
import { closeAll, errnoError, sendFds, EAGAIN, MAX_FDS_PER_MSG } from '../sys';

/** Unsent bytes per client beyond which the loop reads nothing more from it. */
export const CLIENT_OUTPUT_BYTES = 64 * 1024;
/** Unsent descriptors per client beyond which the loop reads nothing more from it: one full record. */
export const CLIENT_OUTPUT_FDS = MAX_FDS_PER_MSG;
/** Unsent bytes of all clients together beyond which no client with output waiting is read. */
export const SERVICE_OUTPUT_BYTES = 8 * 1024 * 1024;

interface Chunk {
  data: Uint8Array;
  /** Sent with the chunk's first byte. */
  fds: readonly number[];
  /** Those of `fds` the outbox closes once they are sent (or dropped). */
  owned: number[];
}

/** The unsent bytes of every outbox of one service. */
export class OutputTotal {
  bytes = 0;

  get over(): boolean {
    return this.bytes > SERVICE_OUTPUT_BYTES;
  }
}

export class Outbox {
  #chunks: Chunk[] = [];
  #bytes = 0;
  #fds = 0;

  constructor(private readonly total: OutputTotal) {}

  get empty(): boolean {
    return this.#chunks.length === 0;
  }

  /** Over its own bound, or holding output while the service is over its bound: read no more from this client. */
  get full(): boolean {
    return this.#bytes > CLIENT_OUTPUT_BYTES || this.#fds > CLIENT_OUTPUT_FDS || (!this.empty && this.total.over);
  }

  /** Queue `data` with descriptors `fds`, closing `owned` (a subset) once they are sent. The bytes are copied. */
  push(data: Uint8Array, fds: readonly number[], owned: number[]): void {
    this.#chunks.push({ data: Buffer.from(data), fds, owned });
    this.#count(data.length, owned.length);
  }

  /** Send what the stream takes now; true once everything is sent. Throws the send's error (the peer is gone). */
  flush(fd: number): boolean {
    while (this.#chunks.length > 0) {
      const c = this.#chunks[0]!;
      const n = sendFds(fd, c.data, c.fds);
      if (n === -EAGAIN) return false;
      if (n < 0) throw errnoError(-n, 'write');
      closeAll(c.owned); // the kernel holds them in flight now
      this.#count(-n, -c.owned.length);
      if (n < c.data.length) this.#chunks[0] = { data: c.data.subarray(n), fds: [], owned: [] };
      else this.#chunks.shift();
    }
    return true;
  }

  /** The client is gone: drop what is queued and close the descriptors it held. */
  discard(): void {
    for (const c of this.#chunks.splice(0)) {
      closeAll(c.owned);
      this.#count(-c.data.length, -c.owned.length);
    }
  }

  #count(bytes: number, fds: number): void {
    this.#bytes += bytes;
    this.#fds += fds;
    this.total.bytes += bytes;
  }
}
