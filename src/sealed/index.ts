// Sealed payloads: bytes put in a memfd that is then sealed against writing, growing,
// shrinking and further sealing, so a process that receives the descriptor can trust
// the contents cannot change under it, whatever the sender does afterwards; and the
// one-call forms that send and receive them as a record on a Connection.
import { fstatSync, readSync, writeSync } from 'node:fs';
import type { Connection, FdOptions } from '../stream';
import {
  close, closeAll, csError, fcntl, mapPrivate, sealableMemfd, F_ADD_SEALS, F_GET_SEALS, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE,
} from '../sys';

/** The default ceiling of recvSealed. */
const SEALED_MAX = 64 * 1024 * 1024;

/** Every seal: no write, no size change, no change to the seals themselves. */
const SEALS = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

/** A sealed memfd holding `data`; the caller owns it (send it with sendFds, then close it). */
export function sealBytes(data: Uint8Array): number {
  const fd = sealableMemfd('cs-sealed');
  try {
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off, off);
    fcntl(fd, F_ADD_SEALS, SEALS);
  } catch (e) {
    close(fd);
    throw e;
  }
  return fd;
}

/**
 * The size of `fd`, a sealed memfd of at most `max` bytes. EPERM when it is not
 * fully sealed (its sender could still change it), EMSGSIZE when larger than `max`.
 */
export function sealedSize(fd: number, max: number, syscall = 'readSealed', path?: string): number {
  let seals: number;
  try {
    seals = fcntl(fd, F_GET_SEALS);
  } catch {
    throw csError('EPERM', syscall, path, `fd ${fd} is not a sealed memfd`);
  }
  if ((seals & SEALS) !== SEALS) throw csError('EPERM', syscall, path, `fd ${fd} is not fully sealed (seals 0x${seals.toString(16)})`);
  const size = fstatSync(fd).size;
  if (size > max) throw csError('EMSGSIZE', syscall, path, `${size} bytes, more than the ${max} allowed`);
  return size;
}

/** The first `size` bytes of sealed `fd` into `out` (a sealed memfd cannot end early, but say so if it does). */
export function readSealedInto(fd: number, out: Uint8Array, size: number, syscall = 'readSealed', path?: string): void {
  for (let off = 0, n; off < size; off += n) {
    n = readSync(fd, out, off, size - off, off);
    if (n === 0) throw csError('EIO', syscall, path, `fd ${fd} ended at ${off} of ${size} bytes`);
  }
}

/**
 * The contents of `fd`, a sealed memfd of at most `max` bytes. The fd stays the
 * caller's. EPERM when it is not fully sealed, EMSGSIZE when larger than `max`.
 */
export function readSealed(fd: number, max: number, syscall = 'readSealed', path?: string): Buffer {
  const size = sealedSize(fd, max, syscall, path);
  const out = Buffer.allocUnsafe(size);
  readSealedInto(fd, out, size, syscall, path);
  return out;
}

/**
 * The contents of `fd`, a sealed memfd of at most `max` bytes, without a copy: a
 * Buffer over a private mapping of it (writes to the Buffer stay this process's).
 * The fd stays the caller's and may be closed at once; the mapping lasts until the
 * Buffer is collected. Errors as readSealed, and mmap's.
 */
export function mapSealed(fd: number, max: number, syscall = 'mapSealed', path?: string): Buffer {
  const size = sealedSize(fd, max, syscall, path);
  return size === 0 ? Buffer.alloc(0) : mapPrivate(fd, size, path);
}

/** `data` in a sealed memfd, sent on `conn` as one record (sealBytes, sendFds, then this process's fd is closed). */
export async function sendSealed(conn: Connection, data: Uint8Array, opts: FdOptions = {}): Promise<void> {
  const fd = sealBytes(data);
  try {
    await conn.sendFds([fd], opts);
  } finally {
    close(fd);
  }
}

/**
 * The bytes of the sealed memfd in the next record on `conn`, at most `max` (default
 * 64 MiB); the descriptor is closed whatever happens. EPROTO when the record carries
 * no descriptor, EMSGSIZE when more than one or larger than `max`, EPERM when it is not
 * a fully sealed memfd. With `map`, the bytes are mapped (mapSealed), not read.
 */
export async function recvSealed(conn: Connection, opts: FdOptions & { max?: number; map?: boolean } = {}): Promise<Buffer> {
  const { fds } = await conn.recvFds({ signal: opts.signal, max: 1 });
  try {
    if (fds.length !== 1) throw csError('EPROTO', 'recvSealed', conn.path, 'the record carries no descriptor');
    return (opts.map ? mapSealed : readSealed)(fds[0]!, opts.max ?? SEALED_MAX, 'recvSealed', conn.path);
  } finally {
    closeAll(fds);
  }
}
