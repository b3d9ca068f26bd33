// sendmsg/recvmsg with SCM_RIGHTS (and, received, SCM_CREDENTIALS) over preallocated
// native memory: the msghdr, iovec and control buffers are built once, so a call
// allocates nothing but its result.
import {
  allocNative, close, sendmsgRaw, recvmsgRaw, setsockoptInt,
  SOL_SOCKET, SO_PASSCRED, SCM_RIGHTS, SCM_CREDENTIALS, MSG_CTRUNC, MSG_NOSIGNAL, MSG_CMSG_CLOEXEC, MSG_PEEK,
} from './libc';

/** Linux's SCM_MAX_FD: the most descriptors one message can carry. */
export const MAX_FDS_PER_MSG = 253;
/** The largest payload one call moves; bigger sends are partial, as with write(2). */
export const MAX_MSG_DATA = 256 * 1024;

const HDR = 0; // struct msghdr, 56 bytes
const IOV = 64; // struct iovec, 16 bytes
const CTL = 128; // control buffer
const DATA = 2048;

class Scratch {
  readonly ptr: unknown;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly data: Uint8Array;
  constructor() {
    const m = allocNative(DATA + MAX_MSG_DATA);
    this.ptr = m.ptr;
    this.bytes = m.bytes;
    this.view = new DataView(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
    this.data = m.bytes.subarray(DATA);
    const v = this.view;
    v.setBigUint64(HDR + 16, m.address + BigInt(IOV), true); // msg_iov
    v.setBigUint64(HDR + 24, 1n, true); // msg_iovlen
    v.setBigUint64(HDR + 32, m.address + BigInt(CTL), true); // msg_control
    v.setBigUint64(IOV, m.address + BigInt(DATA), true); // iov_base
  }
  setLengths(dataLen: number, ctlLen: number): void {
    this.view.setBigUint64(IOV + 8, BigInt(dataLen), true);
    this.view.setBigUint64(HDR + 40, BigInt(ctlLen), true);
    this.view.setInt32(HDR + 48, 0, true);
  }
}

const tx = new Scratch();
const rx = new Scratch();

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
    v.setBigUint64(CTL, BigInt(16 + 4 * fds.length), true);
    v.setInt32(CTL + 8, SOL_SOCKET, true);
    v.setInt32(CTL + 12, SCM_RIGHTS, true);
    for (let i = 0; i < fds.length; i++) v.setInt32(CTL + 16 + 4 * i, fds[i], true);
    ctl = cmsgSpace(4 * fds.length);
  }
  tx.setLengths(len, ctl);
  return sendmsgRaw(fd, tx.ptr, flags | MSG_NOSIGNAL);
}

// shared by results without descriptors, so a read that brings none allocates no array
const NO_FDS: number[] = Object.freeze([]) as unknown as number[];
const EMPTY = Buffer.alloc(0);

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
 * One recvmsg(2) of at most `want` bytes into the receive scratch, with room for
 * `maxFds` descriptors and, first, the sender's credentials (there when the socket has SO_PASSCRED).
 */
function receive(fd: number, want: number, maxFds: number, flags: number): Received {
  const room = Math.min(Math.max(maxFds, 0), MAX_FDS_PER_MSG + 1);
  // CMSG_LEN, not CMSG_SPACE: the kernel installs as many fds as whole ints fit after the
  // credentials, so this limit is exact
  rx.setLengths(Math.min(want, MAX_MSG_DATA), CRED_SPACE + (room > 0 ? 16 + 4 * room : 0));
  const n = recvmsgRaw(fd, rx.ptr, flags | MSG_CMSG_CLOEXEC);
  if (n < 0) return { n, fds: NO_FDS, truncated: false, cred: null };
  const v = rx.view;
  const ctlLen = Number(v.getBigUint64(HDR + 40, true));
  let fds = NO_FDS;
  let cred: MsgCred | null = null;
  let credSeen = false;
  for (let off = 0; off + 16 <= ctlLen; ) {
    const len = Number(v.getBigUint64(CTL + off, true));
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
  const r = receive(fd, buf.length, maxFds, flags);
  if (r.n > 0) buf.set(rx.data.subarray(0, r.n));
  if (r.fds === NO_FDS) r.fds = [];
  return r;
}

/** recvFds into a new Buffer of exactly the bytes that arrived (empty unless n > 0); `fds` is read-only. */
export function recvChunk(fd: number, want: number, maxFds: number): Received & { data: Buffer } {
  const r = receive(fd, want, maxFds, 0) as Received & { data: Buffer };
  r.data = r.n > 0 ? Buffer.from(rx.data.subarray(0, r.n)) : EMPTY;
  return r;
}

/**
 * Look at the next `want` bytes without taking them or any descriptor: `n` is how
 * many bytes a read of `want` would return and `truncated` whether descriptors
 * come with them. A stream read stops right after a message that carries descriptors.
 */
export function peekFds(fd: number, want: number): Received {
  return receive(fd, want, 0, MSG_PEEK);
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
