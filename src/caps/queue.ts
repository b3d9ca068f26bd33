// A port's queue of messages ready for get/wait, in arrival order. Entries leave
// from the front, or from anywhere by clearing `queued` (an aborted request, a dead client);
// the queue keeps no hold on a message's data once it has left.
import { close, closeAll } from '../sys';
import type { CapsCred } from './constants';
import type { Sealed } from './large';

export interface Queued {
  /** The id get/wait report. */
  id: bigint;
  /** CAPMS_* */
  state: number;
  data: Buffer;
  /** A message too large to travel inline: in its memfd (then `data` is empty) until taken. Owned like fds. */
  sealed?: Sealed;
  /** Owned by the port until the message is handed out. */
  fds: number[];
  cred: CapsCred;
  /** Still waiting in the queue. */
  queued: boolean;
}

/** The message's length, wherever its bytes are. */
export function lengthOf(m: Queued): number {
  return m.sealed ? m.sealed.size : m.data.length;
}

/** Close the memfd of a message whose bytes nobody will take. */
export function closeSealed(m: Queued): void {
  if (!m.sealed) return;
  close(m.sealed.fd);
  m.sealed = undefined;
}

const COMPACT_AT = 1024;
const EMPTY = Buffer.alloc(0);

export class MsgQueue<T extends Queued> {
  /** Messages in arrival order; null where one left from the front. */
  #items: (T | null)[] = [];
  #head = 0;

  push(m: T): void {
    m.queued = true;
    this.#items.push(m);
  }

  /** The next message still queued, left in place. */
  first(): T | undefined {
    const items = this.#items;
    while (this.#head < items.length && !items[this.#head]?.queued) this.#head++;
    if (this.#head === items.length && this.#head > 0) {
      this.#items = [];
      this.#head = 0;
    }
    return this.#items[this.#head] ?? undefined;
  }

  /** Remove and return the next message. */
  shift(): T | undefined {
    const m = this.first();
    if (!m) return undefined;
    m.queued = false;
    this.#items[this.#head++] = null;
    if (this.#head >= COMPACT_AT && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return m;
  }

  /** Take a message out wherever it is, closing its descriptors and letting go of its data: nobody will read it. */
  drop(m: T): void {
    if (!m.queued) return;
    m.queued = false;
    closeAll(m.fds);
    closeSealed(m);
    m.fds = [];
    m.data = EMPTY;
  }

  /** Drop everything (the port is closing). */
  clear(): void {
    for (let m = this.first(); m; m = this.first()) this.drop(m);
  }
}
