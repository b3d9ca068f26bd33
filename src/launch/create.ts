// Creating a service: its listening stream, fdp or tcp (or udp's bound socket),
// as csopen(CS_OPEN_CREATE), listen() and serve() make it.
import { csError } from '../sys';
import { NetListener } from '../net/listener';
import { netCreate } from '../net/server';
import { createUnixService } from '../stream/listen';
import { Listener } from '../stream/listener';
import { isNet, type Service } from './service';

/** Create the (non-blocking) listening stream of service `s`; the caller owns the returned fd. */
export function createListener(s: Service): number {
  return isNet(s) ? netCreate(s.path) : createUnixService(s.md);
}

/** Create service `s` and accept its connections (tcp: a NetListener; udp has none). */
export function listenOn(s: Service, syscall: string): Listener | NetListener {
  if (s.path.proto === 'udp') throw csError('EOPNOTSUPP', syscall, s.path.canonical, 'udp has no listener: csopen with CS_OPEN_CREATE gives the bound datagram socket');
  const fd = createListener(s);
  if (s.path.proto === 'tcp') return new NetListener(fd, s.md);
  return new Listener(fd, s.path.canonical, s.md);
}
