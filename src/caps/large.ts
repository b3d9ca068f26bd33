// Messages above the inline limit (CAPS_MAXMSG): the bytes go in a sealed memfd that
// travels as the frame's first descriptor, the frame's payload announcing its size.
// Owns the ceiling a port accepts, sealing on the way out, checking what a peer hands
// over, and reading the bytes when the message is taken (not before: a message dropped
// unread is never copied).
import { readSealedInto, sealBytes, sealedSize } from '../sealed';
import { close, closeAll, csError, type CsError } from '../sys';
import { CAPS_MAXFDS, CAPS_MAXLARGEMSG, CAPS_MAXMSG } from './constants';
import { CEILING_UNIT, SEALED, SEALED_SIZE } from './frame';
import { violation } from './link';

/** The largest ceiling a HELLO can state. */
const MAX_CEILING = 0xffff * CEILING_UNIT;

/** A received message still in its sealed memfd. */
export interface Sealed {
  fd: number;
  size: number;
}

/** The ceiling this process's ports accept and send: $CS_CAPS_MAXMSG bytes, else CAPS_MAXLARGEMSG. */
export function ceiling(): number {
  const v = Number(process.env.CS_CAPS_MAXMSG);
  return Number.isInteger(v) && v >= CAPS_MAXMSG ? Math.min(v, MAX_CEILING) : CAPS_MAXLARGEMSG;
}

/** The size and descriptor count a message may have on a connection that carries at most `max` bytes. */
export function checkSize(length: number, nfds: number, max: number, syscall: string, path: string): void {
  if (length > max) {
    const why = max === CAPS_MAXMSG ? 'the peer speaks CAPS version 1, which has no sealed messages' : 'the smaller of the two sides\' $CS_CAPS_MAXMSG';
    throw csError('EMSGSIZE', syscall, path, `message is ${length} bytes, the limit is ${max} (${why})`);
  }
  const maxFds = length > CAPS_MAXMSG ? CAPS_MAXFDS - 1 : CAPS_MAXFDS;
  if (nfds > maxFds) throw csError('EINVAL', syscall, path, `at most ${maxFds} descriptors with a ${length}-byte message, got ${nfds}`);
}

/** What a frame carries for `data`: the bytes inline, or a sealed memfd holding them ahead of `fds` (taken over either way). */
export function outgoing(data: Uint8Array, fds: number[], syscall: string, path: string): { arg: number; payload: Uint8Array; fds: number[] } {
  if (data.length <= CAPS_MAXMSG) return { arg: 0, payload: data, fds };
  let fd: number;
  try {
    fd = sealBytes(data);
  } catch (e) {
    closeAll(fds);
    throw csError((e as CsError).code ?? 'ENOMEM', syscall, path, `cannot put ${data.length} bytes in a sealed memfd: ${(e as Error).message}`);
  }
  const payload = Buffer.allocUnsafe(SEALED_SIZE);
  payload.writeBigUInt64LE(BigInt(data.length));
  return { arg: SEALED, payload, fds: [fd, ...fds] };
}

/**
 * The sealed message of a frame: its memfd, taken from the front of `fds`, must carry
 * every seal (else its sender could still change it), be as large as announced and
 * above the inline limit, and within `max`. Anything else is a protocol violation,
 * and the memfd is closed.
 */
export function incoming(payload: Buffer, fds: number[], max: number): Sealed {
  const announced = payload.readBigUInt64LE(0);
  const fd = fds.shift()!;
  try {
    if (announced <= BigInt(CAPS_MAXMSG) || announced > BigInt(max)) throw violation(`a sealed message of ${announced} bytes (this side takes ${CAPS_MAXMSG + 1} to ${max})`);
    const size = Number(announced);
    let actual: number;
    try {
      actual = sealedSize(fd, max);
    } catch (e) {
      throw violation(`the descriptor of a sealed message: ${(e as Error).message}`);
    }
    if (actual !== size) throw violation(`a sealed message announced as ${size} bytes is ${actual}`);
    return { fd, size };
  } catch (e) {
    close(fd);
    throw e;
  }
}

/** Read `s` into `out` and close its memfd. */
export function bytesInto(s: Sealed, out: Uint8Array, syscall: string, path: string): void {
  try {
    readSealedInto(s.fd, out, s.size, syscall, path);
  } finally {
    close(s.fd);
  }
}

/** Read `s` into a new Buffer and close its memfd. */
export function bytesOf(s: Sealed, syscall: string, path: string): Buffer {
  const out = Buffer.allocUnsafe(s.size);
  bytesInto(s, out, syscall, path);
  return out;
}
