// Socket activation: systemd's sd_listen_fds(3) protocol, which cs auto-start speaks
// too. LISTEN_PID=<this pid> and LISTEN_FDS=<n> hand over descriptors 3..3+n-1,
// named by LISTEN_FDNAMES=<name>:<name>... The variables are read once per process
// and removed from the environment (as sd_listen_fds(1) does), so children never
// take descriptors that were meant for their parent.
import {
  csError, fcntl, getsockopt, AF_INET, AF_INET6, AF_UNIX, F_SETFD, FD_CLOEXEC, SOL_SOCKET, SO_ACCEPTCONN, SO_DOMAIN, type CsError,
} from '../sys';

const FIRST_FD = 3;

interface Handed {
  fd: number;
  name: string;
}

let handed: Handed[] | null = null;

function readEnvironment(): Handed[] {
  const { LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES } = process.env;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  const n = Number(LISTEN_FDS);
  if (Number(LISTEN_PID) !== process.pid || !Number.isInteger(n) || n < 1) return [];
  const names = LISTEN_FDNAMES?.split(':') ?? [];
  return Array.from({ length: n }, (_, i) => ({ fd: FIRST_FD + i, name: names[i] ?? '' }));
}

const optval = Buffer.alloc(4);

function intOption(fd: number, name: number): number {
  getsockopt(fd, SOL_SOCKET, name, optval);
  return optval.readInt32LE(0);
}

/** Socket families a cs service listens on: fdp (AF_UNIX) and tcp. */
const SERVED_FAMILIES = [AF_UNIX, AF_INET, AF_INET6];

/** Check that `fd` is a listening stream of a served family and make it close-on-exec, as sd_listen_fds does. */
function adopt(fd: number, path: string): number {
  try {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  } catch (e) {
    throw csError((e as CsError).code, 'serve', path, `fd ${fd} from LISTEN_FDS is not open`);
  }
  let listening = false;
  try {
    listening = SERVED_FAMILIES.includes(intOption(fd, SO_DOMAIN)) && intOption(fd, SO_ACCEPTCONN) === 1;
  } catch {
    // not a socket at all
  }
  if (!listening) throw csError('ENOTSOCK', 'serve', path, `fd ${fd} from LISTEN_FDS is not a listening AF_UNIX or tcp socket`);
  return fd;
}

/**
 * The listening socket handed to this process for `service`, or null: the one
 * LISTEN_FDNAMES names so, else the only one handed over. Each is given out once.
 */
export function takeHandedListener(service: string, path: string): number | null {
  handed ??= readEnvironment();
  let i = handed.findIndex((h) => h.name === service);
  if (i < 0 && handed.length === 1) i = 0;
  if (i < 0) return null;
  const [h] = handed.splice(i, 1);
  return adopt(h.fd, path);
}
