// sendmsg/recvmsg with SCM_RIGHTS (and, received, SCM_CREDENTIALS) over preallocated
// native memory: the msghdr, iovec and control buffers are built once, so a call
// allocates nothing but its result. Stream reads can land straight in Buffers that
// become the reader's (recvChunks).
import {
  addressOf, allocNative, close, reserveMemory, sendmsgRaw, recvmsgRaw, setsockoptInt,
  SOL_SOCKET, SO_PASSCRED, SCM_RIGHTS, SCM_CREDENTIALS, MSG_CTRUNC, MSG_NOSIGNAL, MSG_CMSG_CLOEXEC, MSG_PEEK,
} from './libc';

/** Linux's SCM_MAX_FD: the most descriptors one message can carry. */
export const MAX_FDS_PER_MSG = 253;
/** The largest payload one call moves; bigger sends are partial, as with write(2). */
export const MAX_MSG_DATA = 256 * 1024;

const HDR = 0; // struct msghdr, 56 bytes
const IOV = 64; // struct iovec[MAX_IOV + 1], 16 bytes each
const CTL = 320; // control buffer
const HEAD = 2048;
/** The most buffers one landing read fills. */
const MAX_IOV = 4;
/** The Buffers reads land in: below malloc's mmap threshold, so freed ones come back without page faults. */
export const LANDING = 64 * 1024;
/** The most one landing read takes. */
export const LANDING_MAX = MAX_IOV * LANDING;

/** A msghdr, its iovecs and control buffer in native memory, and `dataSize` bytes of data after them. */
class Scratch {
  readonly ptr: unknown;
  readonly view: DataView;
  readonly data: Uint8Array;
  readonly #dataAddress: bigint;
  constructor(dataSize: number) {
    const m = allocNative(HEAD + dataSize);
    this.ptr = m.ptr;
    this.view = new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
    this.data = m.bytes.subarray(HEAD);
    this.#dataAddress = m.address + BigInt(HEAD);
    this.view.setBigUint64(HDR + 16, m.address + BigInt(IOV), true); // msg_iov
    this.view.setBigUint64(HDR + 32, m.address + BigInt(CTL), true); // msg_control
  }
  /** The data moves through this scratch's own data area: `len` bytes. */
  own(len: number): void {
    this.iov(0, this.#dataAddress, len);
    this.iovCount(1);
  }
  iov(i: number, address: bigint, len: number): void {
    this.view.setBigUint64(IOV + 16 * i, address, true);
    this.view.setUint32(IOV + 16 * i + 8, len, true);
    this.view.setUint32(IOV + 16 * i + 12, 0, true);
  }
  iovCount(n: number): void {
    this.view.setUint32(HDR + 24, n, true);
    this.view.setUint32(HDR + 28, 0, true);
  }
  control(len: number): void {
    this.view.setUint32(HDR + 40, len, true);
    this.view.setUint32(HDR + 44, 0, true);
    this.view.setInt32(HDR + 48, 0, true);
  }
}

const tx = new Scratch(MAX_MSG_DATA);
const rx = new Scratch(MAX_MSG_DATA);
const landing = new Scratch(0);

const cmsgSpace = (n: number) => 16 + ((n + 7) & ~7);
/** CMSG_SPACE(sizeof(struct ucred)): the kernel puts SCM_CREDENTIALS first, in exactly this much. */
const CRED_SPACE = cmsgSpace(12);

/**
 * Ask the kernel to attach the sender's pid/uid/gid to every message this socket
 * receives from now on (SO_PASSCRED). Bytes already queued keep none, so it is set
 * before a peer can send.
 */
export function passCred(fd: number): void {
  setsockoptInt(fd, SOL_SOCKET, SO_PASSCRED, 1);
}

/**
 * One sendmsg(2) of `data` with `fds` as SCM_RIGHTS. Returns bytes sent or -errno.
 * SIGPIPE is never raised: a closed peer is -EPIPE.
 */
export function sendFds(fd: number, data: Uint8Array, fds: readonly number[], flags = 0): number {
  const len = Math.min(data.length, MAX_MSG_DATA);
  tx.data.set(len === data.length ? data : data.subarray(0, len));
  let ctl = 0;
  if (fds.length > 0) {
    const v = tx.view;
    v.setUint32(CTL, 16 + 4 * fds.length, true); // cmsg_len, a size_t: low half
    v.setUint32(CTL + 4, 0, true);
    v.setInt32(CTL + 8, SOL_SOCKET, true);
    v.setInt32(CTL + 12, SCM_RIGHTS, true);
    for (let i = 0; i < fds.length; i++) v.setInt32(CTL + 16 + 4 * i, fds[i], true);
    ctl = cmsgSpace(4 * fds.length);
  }
  tx.own(len);
  tx.control(ctl);
  return sendmsgRaw(fd, tx.ptr, flags | MSG_NOSIGNAL);
}

// shared by results without descriptors, so a read that brings none allocates no array
const NO_FDS: number[] = Object.freeze([]) as unknown as number[];

export interface Received {
  /** Bytes read, 0 at end of stream, or -errno. */
  n: number;
  /** Descriptors that arrived (close-on-exec), whatever else went wrong; never to be modified. */
  fds: number[];
  /** The kernel dropped descriptors that did not fit (MSG_CTRUNC). */
  truncated: boolean;
  /**
   * The sender of these bytes as the kernel saw it when they were sent (SCM_CREDENTIALS),
   * or null: asked without `creds`, or sent before SO_PASSCRED was set (pid 0).
   */
  cred: MsgCred | null;
}

export interface MsgCred {
  pid: number;
  uid: number;
  gid: number;
}

/**
 * One recvmsg(2) through `s`, whose iovecs are set, with room for `maxFds`
 * descriptors and, first, the sender's credentials (there when the socket has SO_PASSCRED).
 */
function receive(s: Scratch, fd: number, maxFds: number, flags: number): Received {
  const room = Math.min(Math.max(maxFds, 0), MAX_FDS_PER_MSG + 1);
  // CMSG_LEN, not CMSG_SPACE: the kernel installs as many fds as whole ints fit after the
  // credentials, so this limit is exact
  s.control(CRED_SPACE + (room > 0 ? 16 + 4 * room : 0));
  const n = recvmsgRaw(fd, s.ptr, flags | MSG_CMSG_CLOEXEC);
  if (n < 0) return { n, fds: NO_FDS, truncated: false, cred: null };
  const v = s.view;
  const ctlLen = v.getUint32(HDR + 40, true);
  let fds = NO_FDS;
  let cred: MsgCred | null = null;
  let credSeen = false;
  for (let off = 0; off + 16 <= ctlLen; ) {
    const len = v.getUint32(CTL + off, true); // cmsg_len: a size_t far below 2^32
    if (len < 16) break;
    const type = v.getInt32(CTL + off + 12, true);
    if (v.getInt32(CTL + off + 8, true) === SOL_SOCKET) {
      if (type === SCM_RIGHTS) {
        if (fds === NO_FDS) fds = [];
        for (let p = 16; p + 4 <= len; p += 4) fds.push(v.getInt32(CTL + off + p, true));
      } else if (type === SCM_CREDENTIALS && len >= 28) {
        credSeen = true;
        const pid = v.getInt32(CTL + off + 16, true);
        // pid 0: the bytes were queued before SO_PASSCRED was set, so the kernel recorded no sender
        if (pid > 0) cred = { pid, uid: v.getUint32(CTL + off + 20, true), gid: v.getUint32(CTL + off + 24, true) };
      }
    }
    off += (len + 7) & ~7;
  }
  let truncated = (v.getInt32(HDR + 48, true) & MSG_CTRUNC) !== 0;
  if (!credSeen && fds.length > room) {
    // no SO_PASSCRED: the credentials' room took descriptors past the limit; drop them as the kernel would
    closeAll(fds.slice(room));
    fds = room > 0 ? fds.slice(0, room) : NO_FDS;
    truncated = true;
  }
  return { n, fds, truncated, cred };
}

/**
 * One recvmsg(2) of at most `buf.length` bytes into `buf`, with room for `maxFds`
 * descriptors. Every descriptor that arrived is in the result, so the caller owns it.
 */
export function recvFds(fd: number, buf: Uint8Array, maxFds: number, flags = 0): Received {
  rx.own(Math.min(buf.length, MAX_MSG_DATA));
  const r = receive(rx, fd, maxFds, flags);
  if (r.n > 0) buf.set(rx.data.subarray(0, r.n));
  if (r.fds === NO_FDS) r.fds = [];
  return r;
}

// Landing buffers not handed out yet, shared by every reader: a read takes what it fills.
const spare: Buffer[] = [];

/**
 * One recvmsg(2) of at most `want` bytes (LANDING_MAX at most) straight into Buffers
 * that become the caller's `chunks`, in order, with room for `maxFds` descriptors
 * (read-only `fds`). The bytes are never copied on the way, except a small tail,
 * which is copied out so that its landing buffer serves the next read.
 */
export function recvChunks(fd: number, want: number, maxFds: number): Received & { chunks: Buffer[] } {
  landing.iovCount(land(Math.min(want, LANDING_MAX)));
  const r = receive(landing, fd, maxFds, 0) as Received & { chunks: Buffer[] };
  r.chunks = [];
  takeLanded(r, r.n);
  return r;
}

/**
 * Address space after the landing buffers for a read of everything queued: far more
 * than a stream socket can hold (the sender's SO_SNDBUF bounds it: 416 KiB unless an
 * administrator raised net.core.wmem_max), and memory only where a read wrote.
 */
export const QUEUED_MAX = 64 * 1024 * 1024;
let overflow: ReturnType<typeof reserveMemory> | null = null;
/** Overflow pages kept after a read that used them, beyond which they are given back. */
const OVERFLOW_KEPT = 1024 * 1024;

/**
 * recvChunks for everything queued, whatever its size: one recvmsg(2) into the landing
 * Buffers and, past them, QUEUED_MAX of reserved memory whose bytes are copied out.
 * Since the read cannot fill, it stops only at the end of what is queued, right after
 * a message that carries descriptors, or between two writers' bytes: never inside a
 * message. `full`: it did fill (only with a sender's buffer above QUEUED_MAX), so it may have.
 */
export function recvQueued(fd: number, maxFds: number): Received & { chunks: Buffer[]; full: boolean } {
  overflow ??= reserveMemory(QUEUED_MAX);
  const k = land(LANDING_MAX);
  landing.iov(k, overflow.address, QUEUED_MAX);
  landing.iovCount(k + 1);
  const r = receive(landing, fd, maxFds, 0) as Received & { chunks: Buffer[]; full: boolean };
  r.chunks = [];
  r.full = r.n === LANDING_MAX + QUEUED_MAX;
  takeLanded(r, Math.min(r.n, LANDING_MAX));
  if (r.n > LANDING_MAX) {
    const over = r.n - LANDING_MAX;
    for (let off = 0; off < over; off += LANDING) r.chunks.push(Buffer.from(overflow.bytes.subarray(off, Math.min(over, off + LANDING))));
    if (over > OVERFLOW_KEPT) overflow.discard(over);
  }
  return r;
}

/** Point the landing read's first iovecs at spare Buffers, `size` bytes in all; returns how many. */
function land(size: number): number {
  const k = Math.ceil(size / LANDING);
  while (spare.length < k) spare.push(Buffer.allocUnsafeSlow(LANDING));
  for (let i = 0; i < k; i++) landing.iov(i, addressOf(spare[i]), Math.min(LANDING, size - i * LANDING));
  return k;
}

/** Hand the first `n` bytes in the landing Buffers to `r.chunks`: full-enough Buffers as they are, a small tail copied. */
function takeLanded(r: { chunks: Buffer[] }, n: number): void {
  for (let left = n; left > 0; left -= LANDING) {
    if (left >= LANDING / 4) r.chunks.push(spare.shift()!.subarray(0, Math.min(left, LANDING)));
    else r.chunks.push(Buffer.from(spare[0].subarray(0, left)));
  }
}

/**
 * Look at the next `want` bytes without taking them or any descriptor: `n` is how
 * many bytes a read of `want` would return and `truncated` whether descriptors
 * come with them. A stream read stops right after a message that carries descriptors.
 */
export function peekFds(fd: number, want: number): Received {
  rx.own(Math.min(want, MAX_MSG_DATA));
  return receive(rx, fd, 0, MSG_PEEK);
}

/** Close every descriptor in `fds`, ignoring errors: used on paths that already fail. */
export function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      close(fd);
    } catch {
      // already failing; nothing more to report
    }
  }
}
