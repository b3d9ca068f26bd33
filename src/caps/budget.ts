// How much memory CAPS lets a peer make a process hold, and the counting behind it:
// a service stops reading a client that holds too much instead of growing without bound.
import { CAPS_MAXINPROG, CAPS_MAXMSG } from './constants';
import { HEADER_SIZE } from './frame';

/** A service stops reading a client whose unreplied requests and unsent output reach this. */
export const CLIENT_HELD = 1024 * 1024;
/** Once all its clients together hold this much, a service reads only clients that hold nothing. */
export const SERVICE_HELD = 16 * 1024 * 1024;
/**
 * A client's unsent output (requests a service has not read yet) at which put is ENOBUFS:
 * a full window of the largest requests fits below it, so only a service that answers
 * requests without reading them gets there.
 */
export const CLIENT_UNSENT = CAPS_MAXINPROG * (CAPS_MAXMSG + HEADER_SIZE);

/** Bytes held across a service's connections; told when the total falls back below its limit. */
export class Budget {
  used = 0;

  constructor(readonly limit: number, private readonly onRoom: () => void) {}

  get full(): boolean {
    return this.used >= this.limit;
  }

  add(n: number): void {
    this.used += n;
  }

  release(n: number): void {
    const wasFull = this.used >= this.limit;
    this.used -= n;
    if (wasFull && this.used < this.limit) this.onRoom();
  }
}
