// The public API from an ES module, by package name: how it is meant to be used, and
// misuses the types must refuse (@ts-expect-error fails the check if they do not).
// Checked by tsc, never run.
import {
  open, listen, serve, serveLoop, caps, csopen, csclose, CS_OPEN_CREATE, Connection, NetSocket, parsePath,
  type Listener, type NetListener, type Server, type ServeLoop, type CapsReply, type CsError,
} from 'connect-stream';
import { sendmsg, recvmsg, closeAll, MAX_FDS_PER_MSG, RECORD_SIZE } from 'connect-stream/low-level';
// @ts-expect-error the raw sendmsg/recvmsg live in connect-stream/low-level, not in the root
import { sendFds, recvFds } from 'connect-stream';
// @ts-expect-error tcp internals are not exported: open() and csopen() cover them
import { netOpen, netConnect, acceptNet } from 'connect-stream';

// open(): a tcp path gives the tcp socket, an fdp path a Connection, any other string either.
export async function fdp(): Promise<number[]> {
  const c: Connection = await open('/dev/fdp/local/echo');
  return (await c.recvFds({ max: 4 })).fds;
}
export async function tcp(): Promise<string | undefined> {
  const s: NetSocket = await open('/dev/tcp/local/echo');
  return s.remoteAddress;
}
export async function either(path: string): Promise<number> {
  const s = await open(path, { signal: AbortSignal.timeout(1000) });
  await s.sendFds([0]); // on a tcp stream: rejects with EOPNOTSUPP
  // @ts-expect-error a path string may name a tcp service: narrow before treating it as a Connection
  const c: Connection = s;
  return s instanceof Connection ? c.peer.pid : s.peer.uid;
}
// @ts-expect-error a path is a string
open(42);

// listen() and serve() take a signal; every close() can be awaited; `closed` is a boolean.
export async function servers(signal: AbortSignal): Promise<boolean> {
  const l: Listener = await listen('/dev/fdp/local/x', { signal });
  const nl: NetListener = await listen('/dev/tcp/local/x', { signal });
  await l.close();
  await nl.close();
  const s: Server = await serve('/dev/fdp/local/x', (conn) => conn.end(), { signal });
  const t: Server = await serve('/dev/tcp/local/x', (sock: NetSocket) => sock.end(), { signal });
  await s.close();
  await t.whenClosed;
  const loop: ServeLoop = await serveLoop('/dev/fdp/local/y', { connect: (fd) => fd });
  loop.stop();
  return l.closed && nl.closed && s.closed;
}

// CAPS: a reply's id is a number, so a reply goes through JSON; clients and services close with a promise.
export async function call(name: string): Promise<string> {
  const svc = await caps.service(name);
  const c = await caps.client(name);
  const r: CapsReply = await c.call(Buffer.from('hi'));
  const id: number = r.id;
  await c.close();
  await svc.close();
  return JSON.stringify({ id, data: r.data.toString() });
}

// The C-shaped calls block and return descriptors; errors carry code and errno.
export function cshaped(): void {
  try {
    csclose(csopen(parsePath('/dev/fdp/local/echo').canonical, CS_OPEN_CREATE));
  } catch (e) {
    const { code, errno }: CsError = e as CsError;
    void [code, errno];
  }
}

// connect-stream/low-level: one sendmsg/recvmsg with descriptors, returning -errno.
export function raw(fd: number): number {
  const buf = new Uint8Array(RECORD_SIZE);
  const n: number = sendmsg(fd, buf, [fd].slice(0, MAX_FDS_PER_MSG));
  const got = recvmsg(fd, buf, 4);
  closeAll(got.fds);
  return n;
}
