// The client side of CAPS: messages in flight (at most CAPS_MAXINPROG), replies and
// the DISPOSE they send back, aborts, the service's generation, and losing the service.
import { constants } from 'node:os';
import type { CsId } from '../stream';
import { adopt, handshakeTimeout } from '../io';
import { close, csError, errnoCode, Watcher, type CsError, type MsgCred } from '../sys';
import { credOf, mayServe, messageCred } from './access';
import { CLIENT_UNSENT } from './budget';
import {
  CAPF_ABORT_HARD, CAPMS_REPLY, CAPS_ABORT_ATSERVER, CAPS_ABORT_BEFORESERVER, CAPS_ABORT_RETURNED, CAPS_MAXINPROG,
  CAPS_MAXLARGE, CAPS_MAXMSG, type CapsCred,
} from './constants';
import {
  ABORT, ABORTED, DISPOSE, GEN, HELLO, helloPayload, handshakeVersion, REPLY, REQUEST, SEALED, WELCOME, WELCOME2_SIZE, type Header,
} from './frame';
import { incoming, outgoing, type Sealed } from './large';
import { keyPath, type CapsKey } from './key';
import { Link, violation } from './link';
import { checkMessage, dupFds, idNumber } from './message';
import { addPort, linkTarget, Port, removePort, type PollTarget } from './port';
import { pump, pumpUntil } from './pump';
import type { Queued } from './queue';

const SENT = 0;
const REPLIED = 1;
const EMPTY = Buffer.alloc(0);

/** A reply in the client's queue; `cause` says whether the service sent it or it stands in for one. */
export interface Reply extends Queued {
  num: number;
  cause: 'reply' | 'abort' | 'disconnect';
}

interface PendingAbort {
  hard: boolean;
  code: number | null;
  waiters: ((code: number) => void)[];
}

export class ClientPort extends Port {
  #link: Link;
  /** Message number -> SENT or REPLIED (reply queued, not yet consumed). */
  #inflight = new Map<number, number>();
  #next = 0;
  #gen = 0n;
  /** The service's WELCOME status (0 or an errno), null until it arrives. */
  #welcome: number | null = null;
  #onWelcome: (() => void) | null = null;
  #gone = false;
  #aborts = new Map<number, PendingAbort>();
  /** The largest message the service takes: CAPS_MAXMSG from a version 1 service, else the lower ceiling. */
  #sendMax = CAPS_MAXMSG;
  /** The CAPS version agreed on in the handshake. */
  #version = 1;
  /** Requests sent in sealed memfds and not yet answered (at most CAPS_MAXLARGE). */
  #large = new Set<number>();
  /** The creds of `server`: of the replies it writes, and of those that stand in for a reply. */
  readonly serviceCred: CapsCred;

  /** Takes `fd`, a connected non-blocking stream to the service, whose greeting `server` wrote, and says HELLO. */
  constructor(id: number, key: CapsKey, fd: number, private readonly server: CsId, flags: number) {
    super(id, key);
    this.serviceCred = credOf(server);
    this.#link = new Link(fd, new Watcher(fd), this.path, this);
    this.#link.send(HELLO, 0, 0, helloPayload(flags, this.ceiling));
    this.#link.flush();
  }

  protected get disconnected(): boolean {
    return this.#gone;
  }

  /** Messages put and not yet consumed (replied or not). */
  get inFlight(): number {
    return this.#inflight.size;
  }

  pollTargets(): PollTarget[] {
    const target = linkTarget(this.#link);
    return target ? [target] : [];
  }

  flush(): void {
    this.#link.flush();
  }

  protected wantReads(on: boolean): void {
    this.#link.watchReads(on);
  }

  /** True once the service admitted us; throws its refusal or the connection's loss. */
  welcomed(syscall: string): boolean {
    const status = this.#welcome;
    if (status === null) {
      if (this.#gone) throw csError('ECONNRESET', syscall, this.path, 'the service closed the connection during the CAPS handshake');
      return false;
    }
    if (status !== 0) throw csError(errnoCode(status), syscall, this.path, status === constants.errno.EACCES ? 'the service does not admit this client' : 'the service refused the CAPS handshake');
    return true;
  }

  /** Block (poll) until the handshake is done. */
  welcomeSync(syscall: string): void {
    pumpUntil(this, () => this.#welcome !== null || this.#gone, handshakeTimeout(), syscall);
    this.welcomed(syscall);
  }

  /** Wait on the event loop until the handshake is done. */
  welcome(syscall: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(csError('ETIMEDOUT', syscall, this.path, `the service did not answer within ${handshakeTimeout()} ms`)), handshakeTimeout());
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.#onWelcome = null;
        this.hold(-1);
        if (err) reject(err);
        else resolve();
      };
      this.#onWelcome = () => {
        try {
          if (this.welcomed(syscall)) finish();
        } catch (e) {
          finish(e as Error);
        }
      };
      this.hold(+1);
      this.#onWelcome();
    });
  }

  /** The largest message the service takes. */
  get sendMax(): number {
    return this.#sendMax;
  }

  /** A request of `length` bytes has a slot now: fewer than CAPS_MAXINPROG in flight (and CAPS_MAXLARGE large ones). */
  hasRoom(length: number): boolean {
    return this.#inflight.size < CAPS_MAXINPROG && (length <= CAPS_MAXMSG || this.#large.size < CAPS_MAXLARGE);
  }

  /** Queue a request; `now` sends it at once (the C-shaped call), else with the task's other frames. */
  put(data: Uint8Array, fds: readonly number[], syscall: string, now: boolean): bigint {
    checkMessage(data, fds, this.#sendMax, syscall, this.path);
    if (this.#inflight.size >= CAPS_MAXINPROG) {
      throw csError('ENOBUFS', syscall, this.path, `${CAPS_MAXINPROG} messages are in flight; consume some replies first`);
    }
    if (!this.hasRoom(data.length)) throw csError('ENOBUFS', syscall, this.path, `${CAPS_MAXLARGE} large requests await their replies`);
    if (this.#gone) throw csError('ENOTCONN', syscall, this.path, 'the service is gone');
    if (this.#link.unsent >= CLIENT_UNSENT) throw csError('ENOBUFS', syscall, this.path, 'the service is not reading this port\'s requests');
    const out = outgoing(data, dupFds(fds, syscall, this.path), syscall, this.path);
    const num = ++this.#next;
    this.#inflight.set(num, SENT);
    if (out.arg === SEALED) this.#large.add(num);
    this.#link.send(REQUEST, num, out.arg, out.payload, out.fds);
    if (now) this.#link.flush();
    return BigInt(num);
  }

  /** The service's generation, after reading whatever update has arrived. */
  getgen(): bigint {
    pump(this, 0);
    return this.#gen;
  }

  /** The kernel let a client set a generation of its own that nobody could read: accepted, with no effect. */
  setgen(): void {}

  /** Start aborting message `id`: the CAPS_ABORT_* result when known at once, else the pending answer. */
  #startAbort(id: unknown, flags: number, syscall: string): number | PendingAbort {
    const num = idNumber(id);
    const state = num === null ? undefined : this.#inflight.get(num);
    if (num === null || state === undefined) throw csError('EINVAL', syscall, this.path, `message id ${String(id)} is not in flight on this port`);
    if (state === REPLIED || this.#gone) return CAPS_ABORT_RETURNED;
    let a = this.#aborts.get(num);
    if (!a) {
      a = { hard: (flags & CAPF_ABORT_HARD) !== 0, code: null, waiters: [] };
      this.#aborts.set(num, a);
      this.#link.send(ABORT, num, flags & CAPF_ABORT_HARD);
      this.#link.flush();
    }
    return a;
  }

  /** caps_sys_abort: a round trip to the service, which alone knows where the message is. */
  abortSync(id: unknown, flags: number, syscall: string): number {
    const a = this.#startAbort(id, flags, syscall);
    if (typeof a === 'number') return a;
    pumpUntil(this, () => a.code !== null, handshakeTimeout(), syscall);
    return a.code!;
  }

  abort(id: unknown, flags: number, syscall: string): Promise<number> {
    const a = this.#startAbort(id, flags, syscall);
    if (typeof a === 'number') return Promise.resolve(a);
    this.hold(+1);
    return new Promise((resolve) => a.waiters.push((code) => {
      this.hold(-1);
      resolve(code);
    }));
  }

  protected peeked(): void {}

  protected dequeued(m: Queued): void {
    const r = m as Reply;
    this.#inflight.delete(r.num);
    if (r.cause === 'reply') this.#link.send(DISPOSE, r.num);
  }

  /**
   * Every reply read sends a DISPOSE back: a service that replies without reading could
   * grow our output without end, so stop reading it once that output is beyond what puts allow.
   */
  mayRead(): boolean {
    return this.#link.unsent < 2 * CLIENT_UNSENT;
  }

  onFrame(h: Header, payload: Buffer, fds: number[], writer: MsgCred | null): void {
    if (this.#welcome === null) {
      if (h.type !== WELCOME) throw violation(`frame type ${h.type} before WELCOME`);
      const version = handshakeVersion(payload);
      if (version !== null && (version >= 2) !== (payload.length === WELCOME2_SIZE)) throw violation(`a version ${version} WELCOME of ${payload.length} bytes`);
      this.#welcome = version === null ? constants.errno.EPROTO : payload.readUInt16LE(6);
      this.#gen = payload.readBigInt64LE(8);
      if (version === 2) {
        this.#version = 2;
        this.#sendMax = Math.max(CAPS_MAXMSG, Math.min(this.ceiling, Number(payload.readBigUInt64LE(16))));
      }
      this.#onWelcome?.();
      return;
    }
    switch (h.type) {
      case REPLY:
        if (this.#inflight.get(h.id) !== SENT) throw violation(`REPLY to message ${h.id}, which is not awaiting one`);
        {
          const cred = messageCred(writer, this.server, this.serviceCred);
          if (h.arg !== SEALED) return this.#queueReply(h.id, payload, fds, 'reply', cred);
          if (this.#version < 2) throw violation('a sealed REPLY on a version 1 connection');
          return this.#queueReply(h.id, EMPTY, fds, 'reply', cred, incoming(payload, fds, this.ceiling));
        }
      case ABORTED:
        return this.#aborted(h.id, h.arg);
      case GEN:
        this.#gen = payload.readBigInt64LE(0);
        return;
      default:
        throw violation(`frame type ${h.type} is not for a client`);
    }
  }

  #queueReply(num: number, data: Buffer, fds: number[], cause: Reply['cause'], cred = this.serviceCred, sealed?: Sealed): void {
    this.#inflight.set(num, REPLIED);
    this.#large.delete(num);
    const r: Reply = { id: BigInt(num), state: CAPMS_REPLY, data, sealed, fds, cred, queued: false, num, cause };
    this.queue.push(r);
    this.notify();
  }

  #aborted(num: number, code: number): void {
    const a = this.#aborts.get(num);
    if (!a) throw violation(`ABORTED for message ${num}, which was not being aborted`);
    this.#aborts.delete(num);
    const returned = code === CAPS_ABORT_BEFORESERVER || (code === CAPS_ABORT_ATSERVER && a.hard);
    if (returned && this.#inflight.get(num) === SENT) this.#queueReply(num, EMPTY, [], 'abort');
    a.code = code;
    for (const w of a.waiters) w(code);
  }

  onClose(_err: CsError | null): void {
    this.#gone = true;
    if (!this.closed) {
      // the service is gone: everything in flight comes back as an empty reply
      for (const [num, state] of this.#inflight) if (state === SENT) this.#queueReply(num, EMPTY, [], 'disconnect');
    }
    for (const [num, a] of this.#aborts) {
      this.#aborts.delete(num);
      a.code = CAPS_ABORT_RETURNED;
      for (const w of a.waiters) w(CAPS_ABORT_RETURNED);
    }
    this.#onWelcome?.();
    this.notify();
  }

  override close(): void {
    if (this.closed) return;
    super.close();
    this.#link.close();
    removePort(this);
  }
}

/**
 * Make a client port of a freshly opened stream to `key`'s service, whose greeting
 * came from `server`: check that that process could have registered the key, then
 * start the CAPS handshake.
 */
export function clientPort(key: CapsKey, fd: number, server: CsId, flags: number, syscall: string): ClientPort {
  try {
    adopt(fd);
  } catch (e) {
    close(fd);
    throw e;
  }
  if (!mayServe(key, server)) {
    close(fd);
    throw csError('EPERM', syscall, keyPath(key), `the socket is served by uid ${server.uid}, which cannot have registered this key`);
  }
  return addPort((id) => new ClientPort(id, key, fd, server, flags));
}
