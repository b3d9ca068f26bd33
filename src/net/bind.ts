// csbind (cs.3): a tcp/udp socket by IPv4 address number and port rather than by
// path: a server's socket on any port (0: the system picks), or a connection to one.
import { close, csError, listen } from '../sys';
import { adopt, handshakeTimeout } from '../io';
import { BACKLOG } from '../stream/flags';
import { remember } from '../stream/registry';
import { LOOPBACK } from './hosts';
import { netPath } from './netpath';
import { csntoa } from './routines';
import { bindSocket, connectSync, netSocket, type NetProto } from './socket';

/** csbind's address for "this host" (libcs's CS_LOCAL). */
export const CS_LOCAL = -1;

/**
 * `addr` 0: create a server socket for `type` bound to every IPv4 address at `port`
 * (0: a port the system chooses; cspath tells it), listening for tcp. `addr` CS_LOCAL
 * or an IPv4 address number: connect to `port` there within `timeoutMs` (default
 * $CS_TIMEOUT_MS). Returns a non-blocking fd the caller owns: use csread/cswrite/
 * cspeek, csrecv (accept) or wrap it. No namespace record and no access handshake
 * (see csauth). EINVAL for a bad type, address or port; the kernel's errors else.
 */
export function csbind(type: NetProto, addr: number, port: number, timeoutMs = handshakeTimeout()): number {
  if (type !== 'tcp' && type !== 'udp') throw csError('EINVAL', 'csbind', undefined, `type must be 'tcp' or 'udp', got '${String(type)}'`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw csError('EINVAL', 'csbind', undefined, `port ${port} is out of range 0..65535`);
  if (addr === 0) {
    const fd = netSocket(type, '0.0.0.0');
    try {
      bindSocket(fd, type, { address: '0.0.0.0', port });
      if (type === 'tcp') listen(fd, BACKLOG);
      remember(fd, netPath(fd));
      return fd;
    } catch (e) {
      close(fd);
      throw e;
    }
  }
  if (port === 0) throw csError('EINVAL', 'csbind', undefined, 'port 0 names no server to connect to');
  const address = addr === CS_LOCAL ? LOOPBACK : csntoa(addr);
  const fd = connectSync(type, { address, port }, Date.now() + timeoutMs, timeoutMs, `/dev/${type}/${address}/${port}`);
  remember(adopt(fd), netPath(fd));
  return fd;
}
