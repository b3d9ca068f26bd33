// The idiomatic CAPS API: `await caps.service(name)` is an async iterable of
// requests answered with req.reply(); `await caps.client(name)` sends them with
// `await client.call(data)`. Both stand on the same ports as the C-shaped calls.
import { EventEmitter } from 'node:events';
import { IdleTimer, idlePeriod, untilProcessEnd } from '../launch/lifetime';
import { abortError, closeAll, csError } from '../sys';
import type { Reply, ClientPort } from './client';
import { connect } from './connect';
import {
  CAPF_ABORT_HARD, CAPF_ANYCLIENT, CAPF_EXCL, CAPF_USER, CAPF_WAITSVC, CAPMS_DISPOSE, type CapsCred,
} from './constants';
import { makeKey, type CapsKey } from './key';
import { checkMessage, dupFds } from './message';
import { closeSealed, type Queued } from './queue';
import { registerService } from './register';
import type { ServicePort } from './service';

const EMPTY = Buffer.alloc(0);

export interface CapsServiceOptions {
  /** Registered uid (default: this process's euid) and gid (default -1); either may be -1, not both. */
  uid?: number;
  gid?: number;
  /** CAPF_USER|CAPF_GROUP|CAPF_WORLD: who may connect. Default CAPF_USER (same uid only). */
  access?: number;
  /** Fail with EEXIST when a matching service is registered (CAPF_EXCL). */
  exclusive?: boolean;
  /** Initial generation (default: derived from the start time and pid, new at every start). */
  generation?: bigint;
  /** Retire (close) after this many ms with no client; true: $CS_IDLE_MS or 5 minutes. Default: never. */
  idle?: number | boolean;
}

/** One request as the service sees it. */
export class CapsRequest {
  readonly #service: ServicePort;
  /** The message id (a safe integer, so the request survives JSON.stringify). */
  readonly id: number;
  readonly data: Buffer;
  /** Descriptors that came with the request: the service's to use and close. */
  readonly fds: number[];
  /** The process that wrote the request, as the kernel stamped it. */
  readonly cred: CapsCred;

  /** Made when the request is handed out: a large one is read from its memfd then, not while it waits. */
  constructor(m: Queued, service: ServicePort) {
    this.#service = service;
    this.id = Number(m.id);
    this.data = service.load(m, 'request');
    this.fds = m.fds;
    this.cred = m.cred;
  }

  /** Answer (once); `fds` are sent as copies and stay the caller's. */
  reply(data: Uint8Array = EMPTY, fds: number[] = []): void {
    this.#service.reply(BigInt(this.id), data, fds, 'reply', false);
  }
}

/** A registered service; iterate it for requests. Emits 'dispose' (id, a number) when a reply was consumed. */
export class CapsService extends EventEmitter implements AsyncIterable<CapsRequest> {
  #port: ServicePort;
  /** Requests not yet handed out. */
  #ready: Queued[] = [];
  #takers: ((r: IteratorResult<CapsRequest>) => void)[] = [];
  #idle: IdleTimer | null = null;
  #busy: (() => void) | null = null;
  #forgetAtEnd: () => void;
  #stopDraining: () => void;

  constructor(port: ServicePort, opts: CapsServiceOptions) {
    super();
    this.#port = port;
    // DISPOSE messages cost a trip through the queue each: only keep them for a listener
    port.disposals = false;
    this.on('newListener', (event) => {
      if (event === 'dispose') port.disposals = true;
    });
    if (opts.idle !== undefined && opts.idle !== false) {
      this.#idle = new IdleTimer(idlePeriod(opts.idle === true ? undefined : opts.idle, false), () => this.close());
      port.onClients = (n) => this.#clients(n);
    }
    this.#forgetAtEnd = untilProcessEnd({
      interrupt: () => {
        this.close();
        return true;
      },
      exiting: () => port.removeRecords(),
    });
    this.#stopDraining = port.subscribe(() => this.#drain());
  }

  /** The port number, usable with the caps_sys_* calls. */
  get port(): number {
    return this.#port.id;
  }

  get key(): CapsKey {
    return this.#port.key;
  }

  get path(): string {
    return this.#port.path;
  }

  get generation(): bigint {
    return this.#port.gen;
  }

  /** Tell every client a new generation. */
  set generation(gen: bigint) {
    this.#port.setgen(gen);
  }

  get closed(): boolean {
    return this.#port.closed;
  }

  #clients(n: number): void {
    if (n > 0 && !this.#busy) this.#busy = this.#idle!.hold();
    else if (n === 0 && this.#busy) {
      this.#busy();
      this.#busy = null;
    }
  }

  /** Hand out what the port has queued: requests to the iteration, disposals as events. */
  #drain(): void {
    for (let m = this.#port.next(); m; m = this.#port.next()) {
      if (m.state === CAPMS_DISPOSE) this.emit('dispose', Number(m.id));
      else this.#deliver(m);
    }
  }

  #deliver(m: Queued): void {
    const taker = this.#takers.shift();
    if (taker) taker({ value: new CapsRequest(m, this.#port), done: false });
    else this.#ready.push(m);
  }

  #end(): void {
    for (const t of this.#takers.splice(0)) t({ value: undefined, done: true });
  }

  /** The iteration's next step, settled straight by #deliver: no wrapper promise per request. */
  #next(): Promise<IteratorResult<CapsRequest, undefined>> {
    const m = this.#ready.shift();
    if (m) return Promise.resolve({ value: new CapsRequest(m, this.#port), done: false });
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#takers.push(resolve));
  }

  /** The next request, or undefined once the service is closed. */
  async request(): Promise<CapsRequest | undefined> {
    return (await this.#next()).value;
  }

  [Symbol.asyncIterator](): AsyncIterator<CapsRequest> {
    return {
      next: () => this.#next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /**
   * Unregister; requests not yet replied come back to their clients as empty replies.
   * Done when it returns; the promise says so to callers that await every close().
   */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.#idle?.stop();
    this.#forgetAtEnd();
    this.#stopDraining();
    this.#port.close();
    for (const r of this.#ready.splice(0)) closeAll(r.fds);
    this.#end();
    this.emit('close');
    return Promise.resolve();
  }
}

/** Register a service; see CapsServiceOptions for the defaults. */
export async function service(name: string, opts: CapsServiceOptions = {}): Promise<CapsService> {
  const key = makeKey(name, opts.uid ?? process.geteuid!(), opts.gid ?? -1, 'caps.service');
  const flags = (opts.access ?? CAPF_USER) | (opts.exclusive ? CAPF_EXCL : 0);
  const port = registerService(key, flags, 'caps.service');
  if (opts.generation !== undefined) port.setgen(opts.generation);
  return new CapsService(port, opts);
}

export interface CapsClientOptions {
  /** The key to look up (-1: any). Without both, the generic order: (euid,-1), (-1,egid), (0,0). */
  uid?: number;
  gid?: number;
  /** Which admission rules to ask for (default CAPF_ANYCLIENT). */
  access?: number;
  /** Wait until such a service is registered instead of failing with ENOENT (CAPF_WAITSVC). */
  waitService?: boolean;
  signal?: AbortSignal;
}

export interface CapsReply {
  /** The message id: a number (ids count from 1 per client), so a reply survives JSON.stringify. */
  id: number;
  data: Buffer;
  /** Descriptors the service sent back: the caller's to use and close. */
  fds: number[];
  /** The process that wrote the reply, as the kernel stamped it (the greeting's, for a reply that stands in for one). */
  cred: CapsCred;
}

interface Call {
  data: Uint8Array;
  fds: readonly number[];
  /** The call waits in the backlog with its own copies of data and descriptors. */
  copied?: boolean;
  signal?: AbortSignal;
  resolve(r: CapsReply): void;
  reject(e: unknown): void;
  id?: number;
  aborted?: boolean;
  onAbort?: () => void;
}

/** A connection to a service; `call` sends a request and resolves with its reply. */
export class CapsClient {
  #port: ClientPort;
  #calls = new Map<number, Call>();
  /** Calls waiting for one of the CAPS_MAXINPROG slots. */
  #backlog: Call[] = [];
  /** Subscribed to the port (#onReady, one function for the client's life: no closure per call). */
  #subscribed = false;
  #onReady = (): void => this.#drain();

  constructor(port: ClientPort) {
    this.#port = port;
  }

  get port(): number {
    return this.#port.id;
  }

  get key(): CapsKey {
    return this.#port.key;
  }

  /** The service's generation (changes when it restarts or says so). */
  get generation(): bigint {
    return this.#port.getgen();
  }

  get closed(): boolean {
    return this.#port.closed;
  }

  /**
   * Send `data` (and copies of `fds`) and resolve with the reply. Rejects with
   * ENOTCONN when the service goes away first; an abort signal aborts the request
   * at the service (CAPF_ABORT_HARD) and rejects at once.
   */
  call(data: Uint8Array, fds: number[] = [], opts: { signal?: AbortSignal } = {}): Promise<CapsReply> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(abortError(opts.signal));
      const c: Call = { data, fds, signal: opts.signal, resolve, reject };
      if (c.signal) {
        c.onAbort = () => this.#abort(c);
        c.signal.addEventListener('abort', c.onAbort, { once: true });
      }
      if (this.#backlog.length === 0 && this.#port.hasRoom(data?.length ?? 0)) this.#send(c);
      else this.#wait(c);
      this.#watch();
    });
  }

  /** Keep a call for later, with copies: the caller may reuse its buffer and close its descriptors meanwhile. */
  #wait(c: Call): void {
    try {
      checkMessage(c.data, c.fds, this.#port.sendMax, 'call', this.#port.path);
      c.fds = dupFds(c.fds, 'call', this.#port.path);
    } catch (e) {
      this.#unlisten(c);
      return c.reject(e);
    }
    c.data = Buffer.from(c.data);
    c.copied = true;
    this.#backlog.push(c);
  }

  #send(c: Call): void {
    try {
      c.id = Number(this.#port.put(c.data, c.fds, 'call', false));
      this.#calls.set(c.id, c);
    } catch (e) {
      this.#unlisten(c);
      c.reject(e);
    } finally {
      this.#release(c);
    }
  }

  /** Close the copies a backlogged call held. */
  #release(c: Call): void {
    if (c.copied) closeAll(c.fds);
    c.copied = false;
  }

  #unlisten(c: Call): void {
    if (c.onAbort) c.signal!.removeEventListener('abort', c.onAbort);
  }

  #abort(c: Call): void {
    c.aborted = true;
    const queued = this.#backlog.indexOf(c);
    if (queued >= 0) {
      this.#backlog.splice(queued, 1);
      this.#release(c);
    } else if (c.id !== undefined) void this.#port.abort(BigInt(c.id), CAPF_ABORT_HARD, 'call').catch(() => {});
    c.reject(abortError(c.signal!));
  }

  /** Settle the calls whose replies are queued, then send what waited for a slot. */
  #drain(): void {
    const port = this.#port;
    for (let m = port.next(); m; m = port.next()) this.#settle(m as Reply);
    while (this.#backlog.length > 0 && port.hasRoom(this.#backlog[0]!.data.length)) this.#send(this.#backlog.shift()!);
    this.#watch();
  }

  /** Read from the event loop exactly while calls wait for replies. */
  #watch(): void {
    if (this.#calls.size > 0 && !this.#subscribed && !this.#port.closed) {
      this.#subscribed = true;
      this.#port.subscribe(this.#onReady);
    } else if (this.#calls.size === 0 && this.#subscribed) {
      this.#subscribed = false;
      this.#port.unsubscribe(this.#onReady);
    }
  }

  #settle(m: Reply): void {
    const c = this.#calls.get(m.num);
    this.#calls.delete(m.num);
    if (!c || c.aborted) {
      closeSealed(m);
      return closeAll(m.fds);
    }
    this.#unlisten(c);
    if (m.cause === 'disconnect') c.reject(csError('ENOTCONN', 'call', this.#port.path, 'the service went away before replying'));
    else c.resolve({ id: m.num, data: this.#port.load(m, 'call'), fds: m.fds, cred: m.cred });
  }

  /** Disconnect; calls still waiting reject with ENOTCONN. Done when it returns, as the promise says. */
  close(): Promise<void> {
    this.#port.close();
    const err = () => csError('ENOTCONN', 'call', this.#port.path, 'the client was closed');
    for (const c of [...this.#calls.values(), ...this.#backlog.splice(0)]) {
      this.#unlisten(c);
      this.#release(c);
      if (!c.aborted) c.reject(err());
    }
    this.#calls.clear();
    this.#watch();
    return Promise.resolve();
  }
}

/** Connect to a service; see CapsClientOptions for the lookup order. */
export async function client(name: string, opts: CapsClientOptions = {}): Promise<CapsClient> {
  const syscall = 'caps.client';
  const generic = opts.uid === undefined && opts.gid === undefined;
  const queries = generic
    ? [makeKey(name, process.geteuid!(), -1, syscall), makeKey(name, -1, process.getegid!(), syscall), makeKey(name, 0, 0, syscall)]
    : [makeKey(name, opts.uid ?? -1, opts.gid ?? -1, syscall)];
  const flags = (opts.access ?? CAPF_ANYCLIENT) | (opts.waitService ? CAPF_WAITSVC : 0);
  return new CapsClient(await connect(queries, queries[0]!, flags, syscall, opts.signal));
}
