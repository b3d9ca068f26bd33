// Creating a service: its listening stream, fdp or tcp (or udp's bound socket),
// as csopen(CS_OPEN_CREATE), listen() and serve() make it.
import { csError } from '../sys';
import type * as NetListenerM from '../net/listener';
import type * as NetServer from '../net/server';
import { createUnixService } from '../stream/listen';
import type * as ListenerM from '../stream/listener';
import { isNet, type Service } from './service';

// tcp/udp services only: creating an fdp service never loads the net layer
const netListener = (): typeof NetListenerM => require('../net/listener');
const netServer = (): typeof NetServer => require('../net/server');
// listenOn only: csopen(CS_OPEN_CREATE) hands out the bare fd
const listenerM = (): typeof ListenerM => require('../stream/listener');

/** Create the (non-blocking) listening stream of service `s`; the caller owns the returned fd. */
export function createListener(s: Service): number {
  return isNet(s) ? netServer().netCreate(s.path) : createUnixService(s.md);
}

/** Create service `s` and accept its connections (tcp: a NetListener; udp has none). */
export function listenOn(s: Service, syscall: string): ListenerM.Listener | NetListenerM.NetListener {
  if (s.path.proto === 'udp') throw csError('EOPNOTSUPP', syscall, s.path.canonical, 'udp has no listener: csopen with CS_OPEN_CREATE gives the bound datagram socket');
  const fd = createListener(s);
  if (s.path.proto === 'tcp') return new (netListener().NetListener)(fd, s.md);
  return new (listenerM().Listener)(fd, s.path.canonical, s.md);
}
