// `cs --socket PATH`: where a service listens, for a systemd socket unit: the
// S-cs.mnt path of an fdp service (ListenStream=), the port of a tcp/udp one
// (ListenStream= / ListenDatagram=).
import { checkNetPath, portOf } from '../net/service';
import { resolveService } from '../launch/service';

export interface SocketPlace {
  path: string;
  socket?: string;
  port?: number;
}

export function socketPlace(path: string): SocketPlace {
  const s = resolveService(path, 'socket');
  const p = s.path;
  if (p.proto === 'fdp') return { path: p.canonical, socket: s.md.socket };
  checkNetPath(p, 'socket');
  return { path: p.canonical, port: portOf(p) };
}
