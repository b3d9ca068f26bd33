// The blocking mode of descriptors. Every socket cs creates or accepts is
// non-blocking from birth and every wait goes through poll(2) or the Watcher with a
// deadline; the mode changes only at the two edges: an fd handed to a caller of the
// C-shaped API or to a spawned server becomes blocking (as libcs hands them), and
// an fd handed to cs from outside (LISTEN_FDS, a caller's stream) becomes non-blocking.
import { accept, csError, isNonBlocking, setNonBlocking, SOCK_NONBLOCK } from '../sys';
import { waitSync } from './wait';

/** Make `fd` blocking for its new owner outside cs; returns it. */
export function handOver(fd: number): number {
  setNonBlocking(fd, false);
  return fd;
}

/** Make a descriptor cs takes over from outside non-blocking; returns it. */
export function adopt(fd: number): number {
  setNonBlocking(fd, true);
  return fd;
}

/**
 * Accept a connection on a caller's listener (csrecv): the new stream is
 * non-blocking. A blocking listener waits for a client as long as it takes (a
 * handled signal ends the wait with EINTR); a non-blocking one with none pending
 * throws EAGAIN, as accept(2) would.
 */
export function acceptPending(listenFd: number, what: string, path: string): number {
  const waits = !isNonBlocking(listenFd);
  for (;;) {
    if (waits) waitSync(listenFd, 'r', -1, what, path);
    const fd = accept(listenFd, SOCK_NONBLOCK);
    if (fd >= 0) return fd;
    if (!waits) throw csError('EAGAIN', what, path, 'no connection is pending on a non-blocking listener');
  }
}
