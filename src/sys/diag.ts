// The kernel's socket diagnostics (sock_diag netlink): one exact internet socket of
// this network namespace as the kernel sees it now (state, owner uid, inode). Each
// question opens its own netlink socket, asks once and waits for the answer under a
// deadline; only answers from the kernel itself (netlink port 0) are read.
import { csError, errnoError } from './errors';
import { inet6Bytes } from './addr';
import {
  AF_INET, AF_INET6, EAGAIN, EINTR, IPPROTO_UDP, POLLIN, SOCK_NONBLOCK,
  close, poll, recvfromRaw, sendtoRaw, socket,
} from './libc';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 1;
const NLMSG_ERROR = 2;
const ENOENT = 2;
const NLMSG_HDRLEN = 16;
/** nlmsghdr + inet_diag_req_v2 (family, protocol, ext, pad, states, inet_diag_sockid). */
const REQUEST_BYTES = NLMSG_HDRLEN + 56;
/** nlmsghdr + inet_diag_msg up to idiag_inode. */
const ANSWER_BYTES = NLMSG_HDRLEN + 72;
const ANSWER_MS = 1000;

/** The kernel's tcp states (include/net/tcp_states.h) that the callers name. */
export const TCP_ESTABLISHED = 1;
export const TCP_FIN_WAIT1 = 4;
export const TCP_FIN_WAIT2 = 5;
export const TCP_CLOSE = 7;
export const TCP_CLOSE_WAIT = 8;
export const TCP_LAST_ACK = 9;
export const TCP_LISTEN = 10;
export const TCP_CLOSING = 11;

export interface DiagEnd {
  address: string;
  port: number;
}

/** A socket as the kernel describes it (inet_diag_msg). */
export interface DiagSocket {
  state: number;
  /** The uid that created the socket (0 for sockets nobody owns any more: time-wait, requests). */
  uid: number;
  /** 0 when no process holds the socket any more (closed, orphaned) or none has yet. */
  inode: number;
  local: DiagEnd;
  remote: DiagEnd;
}

const MAPPED = Buffer.from('00000000000000000000ffff', 'hex');

/** Text of 16 address bytes: dotted IPv4 for a mapped address, else eight hex words. */
function addressText(b: Buffer): string {
  if (b.subarray(0, 12).equals(MAPPED)) return [...b.subarray(12)].join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(b.readUInt16BE(i).toString(16));
  return words.join(':');
}

/** inet_diag_sockid at `off`: ports big-endian, addresses in network order. */
function writeSockId(req: Buffer, off: number, local: DiagEnd, remote: DiagEnd, v4: boolean): void {
  req.writeUInt16BE(local.port, off);
  req.writeUInt16BE(remote.port, off + 2);
  const [src, dst] = [inet6Bytes(local.address), inet6Bytes(remote.address)];
  if (v4) {
    src.copy(req, off + 4, 12);
    dst.copy(req, off + 20, 12);
  } else {
    src.copy(req, off + 4);
    dst.copy(req, off + 20);
  }
  req.writeUInt32LE(0xffffffff, off + 40); // INET_DIAG_NOCOOKIE: any socket cookie
  req.writeUInt32LE(0xffffffff, off + 44);
}

function readEnd(msg: Buffer, portOff: number, addrOff: number, family: number): DiagEnd {
  const b = family === AF_INET ? Buffer.concat([MAPPED, msg.subarray(addrOff, addrOff + 4)]) : msg.subarray(addrOff, addrOff + 16);
  return { address: addressText(b), port: msg.readUInt16BE(portOff) };
}

let sequence = 0;

/**
 * The socket of protocol `protocol` (IPPROTO_TCP or IPPROTO_UDP) whose local end is
 * `local` and remote end `remote`, as the kernel finds it (SOCK_DIAG_BY_FAMILY);
 * null when it has none. The kernel looks the pair up as it would an arriving
 * packet, so the answer may be a listening or unconnected socket instead: callers
 * compare its ends with what they asked.
 */
export function diagSocket(protocol: number, local: DiagEnd, remote: DiagEnd): DiagSocket | null {
  const v4 = inet6Bytes(local.address).subarray(0, 12).equals(MAPPED) && inet6Bytes(remote.address).subarray(0, 12).equals(MAPPED);
  const seq = (sequence = (sequence + 1) >>> 0);
  const req = Buffer.alloc(REQUEST_BYTES);
  req.writeUInt32LE(REQUEST_BYTES, 0);
  req.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
  req.writeUInt16LE(NLM_F_REQUEST, 6);
  req.writeUInt32LE(seq, 8);
  req.writeUInt8(v4 ? AF_INET : AF_INET6, 16);
  req.writeUInt8(protocol, 17);
  req.writeUInt32LE(0xffffffff, 20); // every state
  // udp looks the pair up from the packet's side: its source is the socket's remote end
  if (protocol === IPPROTO_UDP) writeSockId(req, 24, remote, local, v4);
  else writeSockId(req, 24, local, remote, v4);
  const kernel = Buffer.alloc(12); // sockaddr_nl: family, pad, port 0 (the kernel), groups
  kernel.writeUInt16LE(AF_NETLINK, 0);
  const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_SOCK_DIAG);
  try {
    const sent = sendtoRaw(fd, req, kernel);
    if (sent < 0) throw errnoError(-sent, 'sendto', undefined, 'asking the kernel for a socket (sock_diag)');
    return answer(fd, seq);
  } finally {
    close(fd);
  }
}

/** Wait (bounded) for the kernel's answer to request `seq` on netlink socket `fd`. */
function answer(fd: number, seq: number): DiagSocket | null {
  const buf = Buffer.alloc(8192);
  const from = Buffer.alloc(12);
  const pfd = new Int32Array([fd, POLLIN]);
  const deadline = Date.now() + ANSWER_MS;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw csError('ETIMEDOUT', 'recvfrom', undefined, `the kernel did not answer a socket diagnostics request in ${ANSWER_MS} ms`);
    poll(pfd, 1, left);
    const n = recvfromRaw(fd, buf, from);
    if (n === -EAGAIN || n === -EINTR) continue;
    if (n < 0) throw errnoError(-n, 'recvfrom', undefined, 'reading the kernel\'s socket diagnostics');
    if (from.readUInt32LE(4) !== 0) continue; // not from the kernel
    for (let off = 0; off + NLMSG_HDRLEN <= n; ) {
      const len = buf.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || off + len > n) break;
      const msg = buf.subarray(off, off + len);
      off += (len + 3) & ~3;
      if (msg.readUInt32LE(8) !== seq) continue;
      const type = msg.readUInt16LE(4);
      if (type === NLMSG_ERROR && len >= NLMSG_HDRLEN + 4) {
        const errno = -msg.readInt32LE(NLMSG_HDRLEN);
        if (errno === ENOENT) return null;
        throw errnoError(errno, 'sock_diag', undefined, 'asking the kernel for a socket');
      }
      if (type !== SOCK_DIAG_BY_FAMILY || len < ANSWER_BYTES) continue;
      const family = msg.readUInt8(16);
      return {
        state: msg.readUInt8(17),
        local: readEnd(msg, 20, 24, family),
        remote: readEnd(msg, 22, 40, family),
        uid: msg.readUInt32LE(80),
        inode: msg.readUInt32LE(84),
      };
    }
  }
}
