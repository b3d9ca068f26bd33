// cspipe (cs.3): two connected local streams in one process, the way to hand a child
// process an fdp stream it can cssend/csrecv on without any namespace entry.
import { fstatSync } from 'node:fs';
import { passCred, socketpair, SOCK_STREAM } from '../sys';
import { remember } from './registry';

/**
 * A connected pair of AF_UNIX stream sockets, both blocking and close-on-exec (pass one
 * to a child explicitly, e.g. in `stdio`). Each end's cspath is libcs's name for an
 * unnamed local stream, `/dev/ino/<dev>/<ino>` of that end's socket. Each record
 * received on either end names its sender (SO_PASSCRED), whoever holds that end now.
 */
export function cspipe(): [number, number] {
  const ends = socketpair(SOCK_STREAM);
  for (const fd of ends) {
    passCred(fd); // before either end can send: each record then names the process that sent it
    const st = fstatSync(fd);
    remember(fd, `/dev/ino/${st.dev}/${st.ino}`);
  }
  return ends;
}
