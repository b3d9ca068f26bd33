// The C-shaped CAPS API (DragonFly's caps_sys_* calls), synchronous like the
// originals: errors are thrown Node-style (code 'ENOBUFS'...) instead of -1/errno.
// capsWait and capsAbort are the event-loop forms of caps_sys_wait and caps_sys_abort.
import { csError } from '../sys';
import { ClientPort } from './client';
import { connectSync } from './connect';
import type { CapsCred, CapsMsgid } from './constants';
import { makeKey, typeError } from './key';
import { getPort } from './port';
import { pump, retrieve } from './pump';
import { registerService } from './register';
import { ServicePort } from './service';

function clientOf(port: unknown, syscall: string): ClientPort {
  const p = getPort(port, syscall);
  if (!(p instanceof ClientPort)) throw csError('EINVAL', syscall, p.path, `port ${p.id} is a service port`);
  return p;
}

function serviceOf(port: unknown, syscall: string): ServicePort {
  const p = getPort(port, syscall);
  if (!(p instanceof ServicePort)) throw csError('EINVAL', syscall, p.path, `port ${p.id} is a client port`);
  return p;
}

function checkInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(what, 'an integer', value);
  return value;
}

function checkBuffers(buf: unknown, msgid: unknown, cred: unknown): asserts buf is Uint8Array {
  if (!(buf instanceof Uint8Array)) throw typeError('buf', 'a Uint8Array or Buffer', buf);
  if (typeof msgid !== 'object' || msgid === null) throw typeError('msgid', 'a caps_msgid object', msgid);
  if (cred !== undefined && (typeof cred !== 'object' || cred === null)) throw typeError('cred', 'a caps_cred object', cred);
}

/**
 * Register the service (name, uid, gid), either id -1 but not both; returns its port.
 * `flags`: CAPF_USER|CAPF_GROUP|CAPF_WORLD say who may connect; CAPF_EXCL fails with
 * EEXIST when a matching service is registered. `upcid` is accepted and ignored, as in the original.
 */
export function caps_sys_service(name: string, uid: number, gid: number, upcid: number, flags: number): number {
  const syscall = 'caps_sys_service';
  const key = makeKey(name, uid, gid, syscall);
  checkInt(upcid, 'upcid');
  checkInt(flags, 'flags');
  return registerService(key, flags, syscall).id;
}

/**
 * Connect to the service (name, uid, gid), -1 matching any id (not both -1); returns
 * the port. ENOENT when none is registered, unless CAPF_WAITSVC waits for one;
 * EACCES when the service does not admit this client by the rules `flags` asks for.
 */
export function caps_sys_client(name: string, uid: number, gid: number, upcid: number, flags: number): number {
  const syscall = 'caps_sys_client';
  const key = makeKey(name, uid, gid, syscall);
  checkInt(upcid, 'upcid');
  checkInt(flags, 'flags');
  return connectSync([key], key, flags, syscall).id;
}

/** Close a port; every unreplied message is answered with an empty reply (or comes back as DISPOSE). */
export function caps_sys_close(port: number): void {
  getPort(port, 'caps_sys_close').close();
}

/**
 * Send a request (client ports only), at once, like the system call; returns its
 * message id. ENOBUFS past CAPS_MAXINPROG in flight; `fds` are sent as copies and stay the caller's.
 */
export function caps_sys_put(port: number, msg: Uint8Array, fds: number[] = []): bigint {
  return clientOf(port, 'caps_sys_put').put(msg, fds, 'caps_sys_put', true);
}

/** Answer a request whose id get/wait reported (service ports only). */
export function caps_sys_reply(port: number, msg: Uint8Array, msgid: bigint, fds: number[] = []): void {
  serviceOf(port, 'caps_sys_reply').reply(msgid, msg, fds, 'caps_sys_reply', true);
}

/**
 * The next message, without blocking (EWOULDBLOCK when there is none): its length;
 * id, state and descriptors in `msgid`; sender in `cred`. A message longer than
 * `buf` stays queued and is not copied, but its length, id and creds are reported.
 */
export function caps_sys_get(port: number, buf: Uint8Array, msgid: CapsMsgid, cred?: CapsCred): number {
  checkBuffers(buf, msgid, cred);
  return retrieve(getPort(port, 'caps_sys_get'), buf, msgid, cred, false, 'caps_sys_get');
}

/** caps_sys_get that blocks this thread (in poll(2)) until a message arrives. */
export function caps_sys_wait(port: number, buf: Uint8Array, msgid: CapsMsgid, cred?: CapsCred): number {
  checkBuffers(buf, msgid, cred);
  return retrieve(getPort(port, 'caps_sys_wait'), buf, msgid, cred, true, 'caps_sys_wait');
}

/**
 * Abort a request (client ports only); the message still comes back as a reply.
 * Returns CAPS_ABORT_BEFORESERVER (the service never saw it; its reply is empty),
 * CAPS_ABORT_ATSERVER (the service has it; with CAPF_ABORT_HARD the empty reply comes
 * at once) or CAPS_ABORT_RETURNED (already replied). Blocks for the service's answer.
 */
export function caps_sys_abort(port: number, msgid: bigint, flags: number): number {
  return clientOf(port, 'caps_sys_abort').abortSync(msgid, checkInt(flags, 'flags'), 'caps_sys_abort');
}

/** Set a port's 64-bit generation; a service's is what its clients read with caps_sys_getgen. */
export function caps_sys_setgen(port: number, gen: bigint): void {
  if (typeof gen !== 'bigint') throw typeError('gen', 'a bigint', gen);
  getPort(port, 'caps_sys_setgen').setgen(gen);
}

/** The generation of the service a client port is connected to (EINVAL on a service port, as in the kernel). */
export function caps_sys_getgen(port: number): bigint {
  return clientOf(port, 'caps_sys_getgen').getgen();
}

/**
 * Resolve when caps_sys_get on `port` would not fail with EWOULDBLOCK (a message is
 * ready, or a client's service is gone), without blocking the event loop.
 */
export function capsWait(port: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const p = getPort(port, 'capsWait');
  pump(p, 0);
  return p.whenReady(opts.signal);
}

/** caps_sys_abort without blocking the event loop. */
export function capsAbort(port: number, msgid: bigint, flags: number): Promise<number> {
  return clientOf(port, 'capsAbort').abort(msgid, checkInt(flags, 'flags'), 'capsAbort');
}
