// Waiting for the namespace to change (CAPF_WAITSVC) on inotify events via fs.watch
// in a worker thread: sync callers block on Atomics.wait, async ones hear its messages.
import { Worker } from 'node:worker_threads';
import { abortError, csError } from '../sys';

// [0]: the last watch set in place; [1]: changes seen so far
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { watch } = require('node:fs');
const state = new Int32Array(workerData);
let watchers = [];
const changed = () => {
  Atomics.add(state, 1, 1);
  Atomics.notify(state, 1);
  parentPort.postMessage('changed');
};
parentPort.on('message', ({ seq, dirs }) => {
  for (const w of watchers) w.close();
  watchers = [];
  for (const dir of dirs) {
    try {
      const w = watch(dir, changed);
      w.on('error', changed);
      watchers.push(w);
    } catch {
      changed();
    }
  }
  Atomics.store(state, 0, seq);
  Atomics.notify(state, 0);
  parentPort.postMessage('ready');
});
`;

/** How long a fresh worker may take to put its watches in place. */
const START_MS = 10_000;

export class NamespaceWatch {
  #state = new Int32Array(new SharedArrayBuffer(8));
  #worker = new Worker(WORKER, { eval: true, workerData: this.#state.buffer });
  #seq = 0;
  #seen = 0;

  /** Watch exactly `dirs` from now on; returns once the watches are in place. */
  watchSync(dirs: string[]): void {
    const seq = this.#post(dirs);
    const deadline = Date.now() + START_MS;
    for (let v = Atomics.load(this.#state, 0); v !== seq; v = Atomics.load(this.#state, 0)) {
      if (Date.now() >= deadline) throw csError('ETIMEDOUT', 'caps_sys_client', undefined, 'the namespace watcher did not start');
      Atomics.wait(this.#state, 0, v, deadline - Date.now());
    }
  }

  /** Async form of watchSync. */
  watch(dirs: string[]): Promise<void> {
    const seq = this.#post(dirs);
    return this.#until(() => Atomics.load(this.#state, 0) === seq);
  }

  #post(dirs: string[]): number {
    this.#seen = Atomics.load(this.#state, 1);
    this.#worker.postMessage({ seq: ++this.#seq, dirs });
    return this.#seq;
  }

  /** Block until something changed in the watched directories since the watch was set. */
  changeSync(): void {
    while (Atomics.load(this.#state, 1) === this.#seen) Atomics.wait(this.#state, 1, this.#seen);
  }

  /** Resolve once something changed since the watch was set (rejects on abort). */
  change(signal?: AbortSignal): Promise<void> {
    return this.#until(() => Atomics.load(this.#state, 1) !== this.#seen, signal);
  }

  #until(done: () => boolean, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        finish();
        resolve();
      };
      const onAbort = () => {
        finish();
        reject(abortError(signal!));
      };
      const finish = () => {
        this.#worker.off('message', check);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted) return reject(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#worker.on('message', check);
      check();
    });
  }

  close(): void {
    void this.#worker.terminate();
  }
}
