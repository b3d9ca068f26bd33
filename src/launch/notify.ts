// sd_notify(3): a server tells its supervisor (systemd, or whatever bound
// $NOTIFY_SOCKET) that it is ready (READY=1), that it is stopping (STOPPING=1),
// and that it is alive (WATCHDOG=1 every half $WATCHDOG_USEC). Each message is one
// AF_UNIX datagram sent through the system-call layer; nothing is sent without
// NOTIFY_SOCKET. The variables are read once and removed from the environment, so
// the server's children do not report in its name.
import { close, errnoError, sendtoRaw, socket, unixPeerAddr, AF_UNIX, SOCK_DGRAM, SOCK_NONBLOCK, type CsError } from '../sys';

interface Supervisor {
  socket: string;
  addr: Buffer;
  /** The watchdog period in ms, 0 when none is asked of this process. */
  watchdogMs: number;
}

let supervisor: Supervisor | null | undefined;

function readEnvironment(): Supervisor | null {
  const { NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID } = process.env;
  delete process.env.NOTIFY_SOCKET;
  delete process.env.WATCHDOG_USEC;
  delete process.env.WATCHDOG_PID;
  if (!NOTIFY_SOCKET) return null;
  const usec = Number(WATCHDOG_USEC);
  const forMe = WATCHDOG_PID === undefined || Number(WATCHDOG_PID) === process.pid;
  return { socket: NOTIFY_SOCKET, addr: unixPeerAddr(NOTIFY_SOCKET), watchdogMs: forMe && usec > 0 ? usec / 1000 : 0 };
}

/** Send one notification; throws the sendto error (EAGAIN: the supervisor's queue is full). */
function send(to: Supervisor, state: string): void {
  const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK);
  try {
    const n = sendtoRaw(fd, Buffer.from(state), to.addr);
    if (n < 0) throw errnoError(-n, 'sendto', to.socket, `sd_notify ${state.split('\n')[0]}`);
  } finally {
    close(fd);
  }
}

const serving = new Set<object>();
let watchdog: NodeJS.Timeout | null = null;

/** Report failures of a notification (they never stop the server). */
export type NotifyFailure = (err: CsError) => void;

/** Errors that say nobody receives at NOTIFY_SOCKET any more (`cs restart` listens only until READY=1). */
const GONE = ['ECONNREFUSED', 'ENOENT'];

function notify(state: string, onFailure: NotifyFailure): void {
  try {
    supervisor ??= readEnvironment();
    if (supervisor) send(supervisor, state);
  } catch (e) {
    // a supervisor that went away is not reported to again
    if (GONE.includes((e as CsError).code)) supervisor = null;
    else onFailure(e as CsError);
  }
}

/** `server` is serving `path`: READY=1, and the watchdog runs while anything serves. */
export function notifyReady(server: object, path: string, onFailure: NotifyFailure): void {
  serving.add(server);
  notify(`READY=1\nSTATUS=serving ${path}`, onFailure);
  const ms = supervisor?.watchdogMs ?? 0;
  if (ms > 0 && watchdog === null) {
    watchdog = setInterval(() => notify('WATCHDOG=1', onFailure), ms / 2);
    watchdog.unref();
  }
}

/** `server` stopped: STOPPING=1 once the last server of this process stops. */
export function notifyStopping(server: object, onFailure: NotifyFailure): void {
  if (!serving.delete(server) || serving.size > 0) return;
  if (watchdog) clearInterval(watchdog);
  watchdog = null;
  notify('STOPPING=1', onFailure);
}
