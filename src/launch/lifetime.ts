// How long a server lives: it retires after an idle period with nothing to do
// (default 5 minutes, $CS_IDLE_MS, 0 = never), it cleans up its namespace
// records when the process exits or gets SIGTERM/SIGINT, and DRAIN_SIGNAL (which
// `cs restart` sends the server it replaces) makes it finish its clients and exit.

/** The default idle period: five minutes, as the issue asks. */
export const DEFAULT_IDLE_MS = 5 * 60 * 1000;

/** Milliseconds from the environment variable `name` when it holds a number >= 0, else `fallback`. */
function envMs(name: string, fallback: number): number {
  const env = Number(process.env[name]);
  return process.env[name] && Number.isFinite(env) && env >= 0 ? env : fallback;
}

/** The idle period in ms (0: never retire): the option, else $CS_IDLE_MS, else the default. */
export function idlePeriod(option: number | undefined, slave: boolean): number {
  if (slave) return 0;
  return option ?? envMs('CS_IDLE_MS', DEFAULT_IDLE_MS);
}

/** How long a draining server waits for its connections by default: 30 s, time for a slow request, short for a deploy. */
export const DEFAULT_DRAIN_MS = 30 * 1000;

/** The drain deadline in ms: the option, else $CS_DRAIN_MS, else the default. */
export function drainPeriod(option: number | undefined): number {
  return option ?? envMs('CS_DRAIN_MS', DEFAULT_DRAIN_MS);
}

/**
 * Counts what keeps a server busy (connections, descriptors it holds for others)
 * and calls `onIdle` once nothing has for `ms` in a row. The timer never keeps the
 * process alive by itself.
 */
export class IdleTimer {
  #busy = 0;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #whenFree: (() => void)[] = [];

  constructor(private readonly ms: number, private readonly onIdle: () => void) {
    this.#arm();
  }

  /** Mark the server busy until the returned function is called (once is enough; more are ignored). */
  hold(): () => void {
    this.#busy++;
    this.#disarm();
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#busy--;
      if (this.#busy === 0) for (const resolve of this.#whenFree.splice(0)) resolve();
      this.#arm();
    };
  }

  /** Resolves once nothing holds the server (at once if nothing does). */
  whenFree(): Promise<void> {
    if (this.#busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenFree.push(resolve));
  }

  /** Count the idle period from now again (when nothing holds the server). */
  restart(): void {
    this.#disarm();
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    this.#disarm();
  }

  #arm(): void {
    if (this.#stopped || this.ms <= 0 || this.#busy > 0 || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.onIdle();
    }, this.ms);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

/** A live server as the process-end handlers see it. */
export interface Ending {
  /** SIGTERM or SIGINT arrived: stop and return true, or return false to keep serving. */
  interrupt(signal: NodeJS.Signals): boolean;
  /** The process is exiting: remove what must not outlive it (synchronously). */
  exiting(): void;
  /** DRAIN_SIGNAL arrived: stop accepting and resolve once the clients are done (without it the process just ends). */
  drain?(): Promise<void>;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
/**
 * Stop accepting, finish the connections, exit: the signal a replaced server gets.
 * SIGUSR2, as nginx's binary upgrade uses: nothing sends it by accident (a terminal
 * sends SIGWINCH to whatever runs in it), and a server that does not handle it ends at once.
 */
export const DRAIN_SIGNAL = 'SIGUSR2';
const live = new Set<Ending>();

function onSignal(signal: NodeJS.Signals): void {
  for (const e of [...live]) if (e.interrupt(signal)) live.delete(e);
  if (live.size > 0) return;
  uninstall();
  // Die of the signal as if nobody had caught it, unless the program listens for it too.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function onExit(): void {
  for (const e of live) e.exiting();
}

function onDrain(): void {
  // asked before the drains start, which let go of the signal
  const onlyUs = process.listenerCount(DRAIN_SIGNAL) === 1;
  const draining = [...live].map((e) => e.drain?.());
  // the signal ends the process once its servers are done, unless the program listens for it too
  if (onlyUs) void Promise.allSettled(draining).then(() => process.exit(0));
}

function install(): void {
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on(DRAIN_SIGNAL, onDrain);
  process.on('exit', onExit);
}

function uninstall(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off(DRAIN_SIGNAL, onDrain);
  process.off('exit', onExit);
}

/** Run `e`'s handlers at process end until the returned function is called. */
export function untilProcessEnd(e: Ending): () => void {
  if (live.size === 0) install();
  live.add(e);
  return () => {
    if (!live.delete(e)) return;
    if (live.size === 0) uninstall();
  };
}
