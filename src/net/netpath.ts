// cspath() of an internet socket: /dev/<proto>/<address>/<port> of the peer for a
// connected stream, of the bound address for a listener or an unconnected datagram
// socket (a wildcard address reads as this host's address).
import { csError, getsockopt, localInet, AF_INET, AF_INET6, SOCK_STREAM, SOL_SOCKET, SO_ACCEPTCONN, SO_DOMAIN, SO_TYPE, type CsError } from '../sys';
import { addressHost, canonicalAddress, hostAddress } from './hosts';

const opt = Buffer.alloc(4);

function intOption(fd: number, name: number): number {
  getsockopt(fd, SOL_SOCKET, name, opt);
  return opt.readInt32LE(0);
}

/** True when `fd` is an internet (IPv4 or IPv6) socket. */
export function isInetSocket(fd: number): boolean {
  try {
    const domain = intOption(fd, SO_DOMAIN);
    return domain === AF_INET || domain === AF_INET6;
  } catch {
    return false;
  }
}

/** The canonical cs path of internet socket `fd`; ENOTSOCK when it is not one. */
export function netPath(fd: number): string {
  if (!isInetSocket(fd)) throw csError('ENOTSOCK', 'cspath', undefined, `fd ${fd} is not an internet socket`);
  const proto = intOption(fd, SO_TYPE) === SOCK_STREAM ? 'tcp' : 'udp';
  let ep = localInet(fd);
  if (proto === 'udp' || intOption(fd, SO_ACCEPTCONN) === 0) {
    try {
      ep = localInet(fd, true);
    } catch (e) {
      // an unconnected udp socket is a server, named by its bound address; a tcp stream has lost its peer
      if ((e as CsError).code !== 'ENOTCONN' || proto === 'tcp') throw csError((e as CsError).code, 'cspath', undefined, `fd ${fd} is not connected`);
    }
  }
  const address = canonicalAddress(ep.address);
  const shown = address === '0.0.0.0' || address === '::' ? hostAddress() : address;
  return `/dev/${proto}/${addressHost(shown)}/${ep.port}`;
}
