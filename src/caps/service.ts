// The service side of CAPS: accepting client ports (rendezvous, HELLO, access check),
// requests in arrival order, replies, DISPOSE, aborts, and what a client's loss means.
import { constants } from 'node:os';
import { removeRecords, type MountDir } from '../namespace';
import type { CsId } from '../stream';
import { greet, tryFinishAccept } from '../stream/listen';
import { AGAIN, handshakeTimeout } from '../io';
import { forget } from '../stream/registry';
import { Acceptor } from '../stream/acceptor';
import { serverLog } from '../launch/serve';
import { close, closeAll, csError, POLLIN, Watcher, type MsgCred } from '../sys';
import { admits, credOf, messageCred } from './access';
import { Budget, CLIENT_HELD, SERVICE_HELD } from './budget';
import {
  CAPF_ABORT_HARD, CAPMS_DISPOSE, CAPMS_REQUEST, CAPS_ABORT_ATSERVER, CAPS_ABORT_BEFORESERVER,
  CAPS_ABORT_RETURNED, CAPS_MAXINPROG, CAPS_MAXLARGE, CAPS_MAXMSG, type CapsCred,
} from './constants';
import {
  ABORT, ABORTED, CEILING_UNIT, DISPOSE, GEN, genPayload, handshakeVersion, HELLO, REPLY, REQUEST, SEALED, WELCOME, welcomePayload,
  type Header,
} from './frame';
import type { CapsKey } from './key';
import { incoming, outgoing, type Sealed } from './large';
import { Link, violation, type LinkHandler } from './link';
import { checkMessage, dupFds, idNumber } from './message';
import { linkTarget, Port, removePort, type PollTarget } from './port';
import { closeSealed, type Queued } from './queue';

const EMPTY = Buffer.alloc(0);

interface Request extends Queued {
  /** The service-side id as a number. */
  num: number;
  from: ClientLink;
  /** The id its client gave it. */
  clientId: number;
  /** Its length, counted against its client until it is replied to or dropped (which empties data). */
  size: number;
  /** It came in a sealed memfd and is counted among its client's CAPS_MAXLARGE until answered. */
  large: boolean;
  /** get/wait reported its id: the service may reply from now on. */
  peeked: boolean;
  replied: boolean;
  /** The client took its reply back (CAPF_ABORT_HARD): a reply becomes a DISPOSE. */
  aborted: boolean;
}

/** One client port's connection, from accept to close. */
class ClientLink implements LinkHandler {
  /** Null until the client's id record (the cs rendezvous) is in. */
  link: Link | null = null;
  /** HELLO answered: requests may come. */
  admitted = false;
  closed = false;
  recordArmed = false;
  timer: NodeJS.Timeout | null = null;
  /** Its requests not yet disposed of, by the client's id. */
  readonly byClient = new Map<number, Request>();
  /** Bytes of its requests read and not yet replied to or dropped. */
  unreplied = 0;
  /** The CAPS version agreed on in its HELLO. */
  version = 1;
  /** The largest message it takes: CAPS_MAXMSG for a version 1 client, else the lower ceiling. */
  sendMax = CAPS_MAXMSG;
  /** Its requests in sealed memfds not yet answered (at most CAPS_MAXLARGE). */
  large = 0;
  readonly cred: CapsCred;

  constructor(readonly service: ServicePort, readonly fd: number, readonly watcher: Watcher, readonly id: CsId) {
    this.cred = credOf(id);
  }

  onFrame(h: Header, payload: Buffer, fds: number[], writer: MsgCred | null): void {
    this.service.frame(this, h, payload, fds, writer);
  }

  /** Read a client only while it holds little; when the service is full, only one that holds nothing. */
  mayRead(): boolean {
    const held = this.unreplied + this.link!.unsent;
    return held < CLIENT_HELD && (held === 0 || !this.service.budget.full);
  }

  onClose(): void {
    this.service.linkClosed(this);
  }
}

/**
 * Services still open when the process exits normally. (No signal handlers: a
 * process blocked in caps_sys_wait could not run them, and would ignore SIGTERM.)
 */
const removeAtExit = new Set<ServicePort>();

function removeAllRecords(): void {
  for (const s of removeAtExit) s.removeRecords();
}

/** A generation no earlier run of a service had: start time in ms, then the pid. */
function startGeneration(): bigint {
  return (BigInt(Date.now()) << 20n) | BigInt(process.pid & 0xfffff);
}

export class ServicePort extends Port {
  #listenFd: number;
  #md: MountDir;
  #acceptor: Acceptor;
  #links = new Set<ClientLink>();
  /** Requests whose id get/wait reported and that are not replied yet. */
  #requests = new Map<number, Request>();
  #next = 0;
  #gen = startGeneration();
  /** Unreplied requests and unsent output of all clients. */
  readonly budget = new Budget(SERVICE_HELD, () => {
    for (const c of this.#links) c.link?.resume();
  });
  /** Told when clients come and go (the idiomatic layer's idle timer listens). */
  onClients: ((count: number) => void) | null = null;
  /** Queue DISPOSE messages (the idiomatic layer turns them off when nobody listens for them). */
  disposals = true;

  /** Takes `listenFd`, the key's non-blocking listening stream in `md`. */
  constructor(id: number, key: CapsKey, readonly flags: number, listenFd: number, md: MountDir) {
    super(id, key);
    this.#listenFd = listenFd;
    this.#md = md;
    this.#acceptor = new Acceptor(listenFd, this.path, {
      accepted: (fd) => this.#accepted(fd),
      paused: (e) => serverLog(this.path, e.message),
    });
    removeAtExit.add(this);
    if (removeAtExit.size === 1) process.on('exit', removeAllRecords);
  }

  protected get disconnected(): boolean {
    return false;
  }

  get gen(): bigint {
    return this.#gen;
  }

  /** Clients connected now. */
  get clients(): number {
    return this.#links.size;
  }

  pollTargets(): PollTarget[] {
    // while accepting is paused (out of descriptors) the listening socket would wake poll(2) at once
    const targets: PollTarget[] = this.#acceptor.pausedFor > 0 ? [] : [{ fd: this.#listenFd, events: POLLIN, ready: () => this.#acceptor.acceptAll() }];
    for (const c of this.#links) {
      const link = c.link;
      if (!link) {
        targets.push({ fd: c.fd, events: POLLIN, ready: () => this.#finishRecord(c) });
        continue;
      }
      const target = linkTarget(link);
      if (target) targets.push(target);
    }
    return targets;
  }

  override retryIn(): number {
    return this.#acceptor.pausedFor;
  }

  flush(): void {
    for (const c of this.#links) c.link?.flush();
  }

  /** A service reads all the time: its links are always watched. */
  protected wantReads(): void {}

  #accepted(fd: number): void {
    let id: CsId;
    try {
      id = greet(fd, this.#md, this.path);
    } catch {
      close(fd);
      return;
    }
    const c = new ClientLink(this, fd, new Watcher(fd), id);
    c.timer = setTimeout(() => this.#drop(c), handshakeTimeout());
    c.timer.unref();
    this.#links.add(c);
    this.onClients?.(this.#links.size);
    this.#finishRecord(c);
  }

  /** Read the client's id record (the end of the cs rendezvous), then speak CAPS. */
  #finishRecord(c: ClientLink): void {
    if (c.link || c.closed) return;
    let r;
    try {
      r = tryFinishAccept(c.fd, c.id, this.path);
    } catch {
      return this.#drop(c);
    }
    if (r === AGAIN) {
      if (!c.recordArmed) {
        c.recordArmed = true;
        c.watcher.onReadable(() => {
          c.recordArmed = false;
          this.#finishRecord(c);
        });
      }
      return;
    }
    c.link = new Link(c.fd, c.watcher, this.path, c, this.budget);
    c.link.watchReads(true);
    c.link.readAvailable();
  }

  #drop(c: ClientLink): void {
    if (c.link) return c.link.close();
    if (c.closed) return;
    c.closed = true;
    c.watcher.close();
    close(c.fd);
    this.linkClosed(c);
  }

  frame(c: ClientLink, h: Header, payload: Buffer, fds: number[], writer: MsgCred | null): void {
    if (h.type === HELLO) return this.#hello(c, payload);
    if (!c.admitted) throw violation(`frame type ${h.type} before HELLO`);
    switch (h.type) {
      case REQUEST:
        return this.#request(c, h, payload, fds, messageCred(writer, c.id, c.cred));
      case DISPOSE: {
        const r = c.byClient.get(h.id);
        if (!r || !r.replied) throw violation(`DISPOSE of message ${h.id}, which has no reply`);
        c.byClient.delete(h.id);
        return this.#disposed(r);
      }
      case ABORT:
        return this.#abort(c, h.id, h.arg);
      default:
        throw violation(`frame type ${h.type} is not for a service`);
    }
  }

  #hello(c: ClientLink, payload: Buffer): void {
    if (c.admitted) throw violation('a second HELLO');
    const version = handshakeVersion(payload);
    const status = version === null
      ? constants.errno.EPROTONOSUPPORT
      : admits(this.flags, this.key, payload.readUInt32LE(8), c.id) ? 0 : constants.errno.EACCES;
    if (version === 2) {
      c.version = 2;
      c.sendMax = Math.max(CAPS_MAXMSG, Math.min(this.ceiling, payload.readUInt16LE(6) * CEILING_UNIT));
    }
    c.link!.send(WELCOME, 0, 0, welcomePayload(status, this.#gen, c.version, this.ceiling));
    if (c.timer) clearTimeout(c.timer);
    if (status !== 0) return c.link!.closeWhenFlushed();
    c.admitted = true;
  }

  #request(c: ClientLink, h: Header, payload: Buffer, fds: number[], cred: CapsCred): void {
    const clientId = h.id;
    if (c.byClient.size >= CAPS_MAXINPROG) throw violation(`more than ${CAPS_MAXINPROG} messages in flight`);
    if (c.byClient.has(clientId)) throw violation(`message id ${clientId} is already in flight`);
    let sealed: Sealed | undefined;
    if (h.arg === SEALED) {
      if (c.version < 2) throw violation('a sealed REQUEST on a version 1 connection');
      if (c.large >= CAPS_MAXLARGE) throw violation(`more than ${CAPS_MAXLARGE} sealed requests unanswered`);
      sealed = incoming(payload, fds, this.ceiling);
      c.large++;
    }
    const data = sealed ? EMPTY : payload;
    // a large one is a descriptor until taken: it counts as the largest inline one, so a
    // client's ABORT and DISPOSE frames are still read while its large request waits
    const size = sealed ? CAPS_MAXMSG : payload.length;
    const num = ++this.#next;
    const r: Request = {
      id: BigInt(num), state: CAPMS_REQUEST, data, sealed, fds, cred, queued: false,
      num, from: c, clientId, size, large: sealed !== undefined, peeked: false, replied: false, aborted: false,
    };
    c.byClient.set(clientId, r);
    c.unreplied += size;
    this.budget.add(size);
    this.queue.push(r);
    this.notify();
  }

  /** The message comes back to the service for good (its reply was consumed, or could not be delivered), with its sender's creds. */
  #disposed(r: Request): void {
    if (this.closed || !this.disposals) return;
    this.queue.push({ id: r.id, state: CAPMS_DISPOSE, data: EMPTY, fds: [], cred: r.cred, queued: false });
    this.notify();
  }

  #abort(c: ClientLink, clientId: number, flags: number): void {
    const r = c.byClient.get(clientId);
    let code = CAPS_ABORT_RETURNED;
    if (r && !r.replied && !r.peeked) {
      code = CAPS_ABORT_BEFORESERVER;
      this.queue.drop(r);
      c.byClient.delete(clientId);
      this.#answered(r);
      this.#release(r);
    } else if (r && !r.replied) {
      code = CAPS_ABORT_ATSERVER;
      if (flags & CAPF_ABORT_HARD) {
        r.aborted = true;
        c.byClient.delete(clientId);
        this.#answered(r);
      }
    }
    c.link!.send(ABORTED, clientId, code);
  }

  /** Its client has (or is about to have) its reply: a large one no longer counts among the CAPS_MAXLARGE. */
  #answered(r: Request): void {
    if (!r.large) return;
    r.large = false;
    r.from.large--;
  }

  /** A request's bytes no longer count against its client (replied, or dropped before anyone saw it). */
  #release(r: Request): void {
    const c = r.from;
    c.unreplied -= r.size;
    this.budget.release(r.size);
    c.link?.resume();
  }

  protected peeked(m: Queued): void {
    if (m.state !== CAPMS_REQUEST) return;
    const r = m as Request;
    if (r.peeked) return;
    r.peeked = true;
    this.#requests.set(r.num, r);
  }

  protected dequeued(): void {}

  /** Answer a request whose id get/wait reported (read or not); `now` as for ClientPort.put. */
  reply(id: unknown, data: Uint8Array, fds: readonly number[], syscall: string, now: boolean): void {
    const num = idNumber(id);
    const r = num === null ? undefined : this.#requests.get(num);
    checkMessage(data, fds, r ? r.from.sendMax : this.ceiling, syscall, this.path);
    if (!r) throw csError('EINVAL', syscall, this.path, `message id ${String(id)} is not a retrieved, unreplied request of this port`);
    const link = r.from.link;
    const deliver = !r.aborted && link !== null && !link.closed;
    const owned = dupFds(fds, syscall, this.path);
    // sealing may fail (ENOMEM): before anything changes, so the request stays replyable
    const out = deliver ? outgoing(data, owned, syscall, this.path) : null;
    if (!out) closeAll(owned);
    this.#requests.delete(r.num);
    this.queue.drop(r); // replied without being read (it was too big): nobody will read it now
    closeSealed(r);
    r.replied = true;
    r.data = EMPTY; // it waits for its DISPOSE without its payload
    this.#answered(r);
    this.#release(r);
    if (!out) return this.#disposed(r);
    link!.send(REPLY, r.clientId, out.arg, out.payload, out.fds);
    if (now) link!.flush();
  }

  setgen(gen: bigint): void {
    this.#gen = BigInt.asIntN(64, gen);
    const payload = genPayload(this.#gen);
    for (const c of this.#links) {
      if (!c.admitted) continue;
      c.link!.send(GEN, 0, 0, payload);
      c.link!.flush();
    }
  }

  /** A client link is gone: its unread requests vanish, replies it never consumed come back as DISPOSE. */
  linkClosed(c: ClientLink): void {
    c.closed = true;
    if (c.timer) clearTimeout(c.timer);
    this.#links.delete(c);
    this.onClients?.(this.#links.size);
    for (const r of c.byClient.values()) {
      if (r.replied) {
        this.#disposed(r);
        continue;
      }
      this.queue.drop(r);
      // a retrieved one stays replyable (its reply will come back as DISPOSE) and counts until then
      if (!r.peeked) this.#release(r);
    }
    c.byClient.clear();
  }

  /** Remove S-cs.mnt and P-cs.mnt if they are this process's (P-cs.mnt first, so a newer server's stay). */
  removeRecords(): void {
    removeRecords(this.#md);
  }

  /** caps_sys_close: stop listening; clients get their unreplied requests back as empty replies. */
  override close(): void {
    if (this.closed) return;
    super.close();
    removeAtExit.delete(this);
    if (removeAtExit.size === 0) process.off('exit', removeAllRecords);
    this.#acceptor.close();
    forget(this.#listenFd);
    this.removeRecords();
    close(this.#listenFd);
    for (const c of [...this.#links]) {
      if (!c.link) {
        this.#drop(c);
        continue;
      }
      // replies already made still reach their clients
      const link = c.link;
      link.closeWhenFlushed();
      if (!link.closed) setTimeout(() => link.close(), handshakeTimeout()).unref();
    }
    for (const r of this.#requests.values()) closeSealed(r);
    this.#requests.clear();
    removePort(this);
  }
}
