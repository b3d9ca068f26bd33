// csauth (cs.3): the client half of a tcp service's access handshake on a stream
// made without csopen (csbind), so a `user`/`group` service admits it.
import { csError, fcntl, F_GETFL, O_NONBLOCK } from '../sys';
import { parsePath } from '../path';
import { driveSync, handshakeTimeout } from '../io';
import { clientAuth, hasRules } from './auth';
import { checkNetPath, netServiceDir } from './service';

/**
 * Prove this process's uid (with the key file) to the service `path` over the
 * non-blocking tcp stream `fd` connected to its server, within $CS_TIMEOUT_MS; a
 * service without `user`/`group` rules needs nothing. EACCES when the server
 * refuses or cannot prove the key back, EPROTO when it runs no handshake, EINVAL
 * for a blocking fd (the handshake never waits without a deadline).
 */
export function csauth(fd: number, path: string): void {
  const p = parsePath(path);
  checkNetPath(p, 'csauth');
  if (!hasRules(netServiceDir(p))) return;
  if (!(fcntl(fd, F_GETFL) & O_NONBLOCK)) throw csError('EINVAL', 'csauth', p.canonical, `fd ${fd} is blocking; csbind's streams are not`);
  driveSync(clientAuth(fd, p.canonical), fd, handshakeTimeout(), 'csauth', p.canonical);
}
