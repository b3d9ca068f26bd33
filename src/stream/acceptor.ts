// Accepting on a non-blocking listening socket without spinning when accept fails:
// out of descriptors (EMFILE, ENFILE) or memory, the listening socket stays readable,
// so instead of retrying at every readiness accepting pauses with a doubling backoff
// while the pending clients wait in the backlog, and the owner hears of it once per
// burst. Accepting also never takes the last descriptor: a spare one is held across each
// accept and let go for the new client's handler and whenever accepting pauses, so the
// clients already accepted can still finish their rendezvous (which needs a descriptor). Every server loop
// (Listener, NetListener, CAPS services) accepts through here.
import { accept, close, csError, dup, SOCK_NONBLOCK, Watcher, type CsError } from '../sys';

const FIRST_PAUSE_MS = 10;
const MAX_PAUSE_MS = 1000;
/** A burst of failures is reported once; a new one only after this long. */
const REPORT_EVERY_MS = 10_000;

export interface AcceptHandlers {
  /** A new non-blocking stream, owned by the callee from now on. */
  accepted(fd: number): void;
  /** Accepting failed and pauses (`e` says why and for how long); called once per burst of failures. */
  paused(e: CsError): void;
}

export class Acceptor {
  #watcher: Watcher;
  #closed = false;
  /** The current backoff; 0 while accepting normally. */
  #pauseMs = 0;
  #resumeAt = 0;
  #reportedAt = -Infinity;
  #timer: NodeJS.Timeout | null = null;
  #armed = false;
  #referenced = true;
  /** The spare descriptor, held across each accept (a copy of the listening socket: any open file would do). */
  #spare: number | null = null;

  /** Watches `fd`, the non-blocking listening socket of `path`, which the caller keeps owning (close() this first). */
  constructor(readonly fd: number, readonly path: string, private readonly handlers: AcceptHandlers) {
    this.#watcher = new Watcher(fd);
    try {
      this.#spare = dup(fd);
    } catch {
      // out of descriptors already: the first accept pauses
    }
    this.#arm();
  }

  /** Milliseconds until accepting resumes, 0 while it is not paused (for loops that poll(2) the socket themselves). */
  get pausedFor(): number {
    return Math.max(0, this.#resumeAt - Date.now());
  }

  /** Accept every pending connection now, unless accepting is paused. */
  acceptAll(): void {
    if (this.pausedFor > 0 || this.#closed) return;
    this.#resume();
    while (!this.#closed) {
      // accept only while a descriptor is left over for what the new client needs next
      try {
        this.#spare ??= dup(this.fd);
      } catch (e) {
        return this.#pause(e as CsError);
      }
      let fd: number;
      try {
        fd = accept(this.fd, SOCK_NONBLOCK);
      } catch (e) {
        if ((e as CsError).code === 'ECONNABORTED') continue; // that client gave up; the next may be there
        return this.#pause(e as CsError);
      }
      if (fd < 0) return;
      this.#pauseMs = 0;
      this.#releaseSpare(); // the handler may use it: identifying the peer, receiving its record
      this.handlers.accepted(fd);
    }
  }

  #pause(e: CsError): void {
    this.#releaseSpare();
    this.#pauseMs = this.#pauseMs === 0 ? FIRST_PAUSE_MS : Math.min(2 * this.#pauseMs, MAX_PAUSE_MS);
    this.#resumeAt = Date.now() + this.#pauseMs;
    if (this.#armed) this.#watcher.cancel(this.#onReadable);
    this.#armed = false;
    this.#timer = setTimeout(() => {
      this.#resumeAt = 0;
      this.#resume();
    }, this.#pauseMs);
    if (!this.#referenced) this.#timer.unref();
    if (Date.now() - this.#reportedAt >= REPORT_EVERY_MS) {
      this.#reportedAt = Date.now();
      this.handlers.paused(csError(e.code, 'accept', this.path, `new connections wait in the backlog, retried every ${FIRST_PAUSE_MS} to ${MAX_PAUSE_MS} ms`));
    }
  }

  /** The pause is over (its timer fired, or a poll(2) loop got here first): watch the socket again. */
  #resume(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#arm();
  }

  #arm(): void {
    if (this.#closed || this.#armed || this.pausedFor > 0) return;
    this.#armed = true;
    this.#watcher.onReadable(this.#onReadable);
  }

  #onReadable = (): void => {
    this.#armed = false;
    this.acceptAll();
    this.#arm();
  };

  unref(): void {
    this.#referenced = false;
    this.#watcher.unref();
    this.#timer?.unref();
  }

  ref(): void {
    this.#referenced = true;
    this.#watcher.ref();
    this.#timer?.ref();
  }

  #releaseSpare(): void {
    if (this.#spare !== null) close(this.#spare);
    this.#spare = null;
  }

  /** Stop accepting; the socket itself stays the caller's to close. */
  close(): void {
    this.#closed = true;
    this.#releaseSpare();
    this.#watcher.close();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
