// Datagrams on a udp server socket, which is not connected: each one carries its
// peer's address. (A udp client stream is connected: plain read/write apply.)
import { decodeInet, errnoError, recvfromRaw, sendtoRaw, EAGAIN } from '../sys';
import { AGAIN } from '../io';
import { canonicalAddress } from './hosts';
import type { Endpoint } from './identity';
import { sockaddr } from './socket';

const from = Buffer.alloc(28);

/** Receive one datagram into `buf`; AGAIN when none is waiting on a non-blocking socket. */
export function recvDatagram(fd: number, buf: Uint8Array): { n: number; from: Endpoint } | typeof AGAIN {
  const n = recvfromRaw(fd, buf, from);
  if (n === -EAGAIN) return AGAIN;
  if (n < 0) throw errnoError(-n, 'recvfrom');
  const peer = decodeInet(from);
  return { n, from: { address: canonicalAddress(peer.address), port: peer.port } };
}

/** Send `data` as one datagram to `to`; AGAIN when the socket buffer is full. */
export function sendDatagram(fd: number, data: Uint8Array, to: Endpoint): void | typeof AGAIN {
  const n = sendtoRaw(fd, data, sockaddr(to));
  if (n === -EAGAIN) return AGAIN;
  if (n < 0) throw errnoError(-n, 'sendto');
}
