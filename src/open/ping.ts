// csping (cs.3): is a host's echo service, or any echoing stream service, alive?
import { csError, type CsError } from '../sys';
import { csclose, csopen } from './api';
import { handshakeTimeout } from '../io';
import { CS_EXACT, csread, cswrite } from '../stream/rw';

const HELLO = 'yo\n';

/**
 * Open `name`'s echo service (`/dev/tcp/<name>/inet.echo`), or the service `name`
 * when it is a path (`/dev/fdp/local/echo`), send a short line and check that it
 * comes back, all within $CS_TIMEOUT_MS per wait. Returns nothing when it does;
 * throws csopen's errors, ETIMEDOUT, or EPROTO when something else answers.
 */
export function csping(name: string): void {
  const path = name.startsWith('/') ? name : `/dev/tcp/${name}/inet.echo`;
  const fd = csopen(path);
  try {
    const ms = handshakeTimeout();
    cswrite(fd, HELLO, ms);
    let back: string;
    try {
      back = csread(fd, HELLO.length, CS_EXACT, ms).toString('latin1');
    } catch (e) {
      if ((e as CsError).code !== 'EINVAL') throw e;
      back = 'fewer bytes and the end of the stream';
    }
    if (back !== HELLO) throw csError('EPROTO', 'csping', path, `sent ${JSON.stringify(HELLO)}, got ${JSON.stringify(back)}: not an echo service`);
  } finally {
    csclose(fd);
  }
}
