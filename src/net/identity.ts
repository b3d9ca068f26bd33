// Who is at the other end of an internet socket. The kernel's socket diagnostics
// (sock_diag, asked for the one socket whose ends are exactly the peer's) say
// whether the peer's own socket is on this host and who made it. Only a socket a
// process still holds (inode not 0) in a connected state vouches for a uid: a
// closed, orphaned or time-wait socket belongs to nobody (the kernel shows uid 0
// for some of them). A peer on this host without such a socket, or a loopback peer
// whose socket is gone, is local with uid -1 (refused by `user`/`group` services);
// any other peer is remote and known only by its address.
import { isIPv4 } from 'node:net';
import {
  diagSocket, localInet, IPPROTO_TCP, IPPROTO_UDP,
  TCP_CLOSE, TCP_CLOSE_WAIT, TCP_CLOSING, TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_LAST_ACK, TCP_LISTEN,
  type DiagSocket,
} from '../sys';
import type { CsId } from '../stream/flags';
import { canonicalAddress, ipv4Number } from './hosts';

export interface Endpoint {
  address: string;
  port: number;
}

export interface NetId extends CsId {
  /** The peer's address and port. */
  address: string;
  port: number;
  /** True when the peer is on this host (its uid is -1 when its socket vouches for nobody). */
  local: boolean;
}

/** States of a connected socket (udp: connected is ESTABLISHED) a process may still hold. */
const CONNECTED = new Set([TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FIN_WAIT2, TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_CLOSING]);
/** States of a server's own socket: listening (tcp), unconnected (udp). */
const SERVING = { tcp: new Set([TCP_LISTEN]), udp: new Set([TCP_CLOSE]) };
const WILDCARDS = new Set(['0.0.0.0', '::']);

function sameEnd(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && canonicalAddress(a.address) === canonicalAddress(b.address);
}

function isLoopback(address: string): boolean {
  return address === '::1' || (isIPv4(address) && address.startsWith('127.'));
}

/** The remote end of a socket that is not connected, in the family of `address`. */
function unconnected(address: string): Endpoint {
  return { address: isIPv4(canonicalAddress(address)) ? '0.0.0.0' : '::', port: 0 };
}

/** The uid a socket vouches for: a process holds it (inode) and it is in one of `states`. */
function owner(s: DiagSocket, states: Set<number>): number | null {
  return s.inode !== 0 && states.has(s.state) ? s.uid : null;
}

/** A server's socket for `server`: listening (tcp) or unconnected (udp), at its address or every address. */
function servesAt(s: DiagSocket, server: Endpoint): boolean {
  return s.local.port === server.port && s.remote.port === 0 && WILDCARDS.has(canonicalAddress(s.remote.address)) &&
    (WILDCARDS.has(canonicalAddress(s.local.address)) || sameEnd(s.local, server));
}

export interface SocketOwner {
  /** True when a socket with exactly these ends is on this host (live or not). */
  found: boolean;
  /** Its creator's uid when a process holds it in a connected state, else null. */
  uid: number | null;
}

/**
 * The socket of this host whose local end is `local` and remote end `remote`. With
 * `server`, `local` is a server's end and a connection it has not accepted yet is
 * vouched for by its listening (tcp) or unconnected (udp) socket.
 */
export function socketOwner(proto: 'tcp' | 'udp', local: Endpoint, remote: Endpoint, server = false): SocketOwner {
  const protocol = proto === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP;
  const s = diagSocket(protocol, local, remote);
  const exact = s !== null && sameEnd(s.local, local) && sameEnd(s.remote, remote);
  const uid = exact ? owner(s, CONNECTED) : null;
  if (uid !== null || !server) return { found: exact, uid };
  // not accepted yet (no inode) or never connected: the socket that serves the port
  const bound = s !== null && !exact ? s : diagSocket(protocol, local, unconnected(local.address));
  const serves = bound !== null && servesAt(bound, local) ? owner(bound, SERVING[proto]) : null;
  return { found: exact || serves !== null, uid: serves };
}

/**
 * The identity of the peer of connected socket `fd`, as far as the kernel knows it;
 * `peerIsServer` for a client asking about its server.
 */
export function peerId(fd: number, proto: 'tcp' | 'udp' = 'tcp', peerIsServer = false): NetId {
  const me = localInet(fd);
  const peer = localInet(fd, true);
  const address = canonicalAddress(peer.address);
  const { found, uid } = socketOwner(proto, { address, port: peer.port }, me, peerIsServer);
  return { hid: ipv4Number(address), pid: -1, uid: uid ?? -1, gid: -1, groups: [], address, port: peer.port, local: found || isLoopback(address) };
}

/** True when a process of this host (network namespace) serves `ep`: a socket listening (tcp) or bound (udp) at its address or every address. */
export function boundHere(proto: 'tcp' | 'udp', ep: Endpoint): boolean {
  return socketOwner(proto, ep, unconnected(ep.address), true).uid !== null;
}
