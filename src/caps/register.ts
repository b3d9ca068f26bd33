// Registering a key: the right to its uid and gid, CAPF_EXCL, and the listening
// stream (the one auto-start handed over, a new one, or one taken from an older service).
import { removeIfPresent, type MountDir } from '../namespace';
import { takeHandedListener } from '../launch/activation';
import { adoptListener } from '../launch/serve';
import { createListener } from '../launch/create';
import { resolveService } from '../launch/service';
import { csError, type CsError } from '../sys';
import { checkRegistrationRights } from './access';
import { CAPF_EXCL } from './constants';
import { keyPath, type CapsKey } from './key';
import { addPort } from './port';
import { findRegistrations } from './registry';
import { ServicePort } from './service';

/** Register `key` (caps_sys_service and caps.service): rights, CAPF_EXCL, the socket, the port. */
export function registerService(key: CapsKey, flags: number, syscall: string): ServicePort {
  checkRegistrationRights(key, syscall);
  if (flags & CAPF_EXCL && findRegistrations(key).length > 0) {
    throw csError('EEXIST', syscall, keyPath(key), 'a matching service is registered');
  }
  const { fd, md } = listenForKey(key, flags, syscall);
  return addPort((id) => new ServicePort(id, key, flags, fd, md));
}

/**
 * The listening stream for `key`: the one auto-start handed over (LISTEN_FDS), else
 * a new one. A live service of the same key is EEXIST with CAPF_EXCL; without it the
 * new registration takes the socket and the old one keeps only its current clients.
 */
function listenForKey(key: CapsKey, flags: number, syscall: string): { fd: number; md: MountDir } {
  const s = resolveService(keyPath(key), syscall);
  const handed = takeHandedListener(key.name, s.path.canonical);
  if (handed !== null) return { fd: adoptListener(s, handed), md: s.md };
  try {
    return { fd: createListener(s), md: s.md };
  } catch (e) {
    if ((e as CsError).code !== 'EADDRINUSE') throw e;
    if (flags & CAPF_EXCL) throw csError('EEXIST', syscall, s.path.canonical, 'a service is registered under this key');
    removeIfPresent(s.md.socket);
    return { fd: createListener(s), md: s.md };
  }
}
