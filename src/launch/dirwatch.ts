// Waiting for something to happen in a directory (a libcs-style server creating
// and then listening on its S-cs.mnt) on inotify events through fs.watch, bounded
// by a deadline: the condition is checked once the watch is in place and again
// after every event, never by polling. The synchronous form blocks on Atomics.wait
// while a worker thread counts the events.
import { watch } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** Resolves true as soon as `ready()` holds, false if it still does not after `ms`. */
export function waitInDir(dir: string, ready: () => boolean, ms: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (result: boolean | Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher?.close();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const check = (): void => {
      try {
        if (ready()) finish(true);
      } catch (e) {
        finish(e as Error);
      }
    };
    const timer = setTimeout(() => {
      check();
      finish(false);
    }, ms);
    let watcher: ReturnType<typeof watch> | undefined;
    try {
      watcher = watch(dir, check);
      watcher.on('error', (e) => finish(e));
    } catch (e) {
      return finish(e as Error);
    }
    check();
  });
}

// Runs in the worker: bump the shared counter and wake the waiting thread on every event.
const EVENT_PUMP = `
const { workerData: { dir, counter } } = require('node:worker_threads');
const bump = () => { Atomics.add(counter, 0, 1); Atomics.notify(counter, 0); };
try {
  require('node:fs').watch(dir, bump).on('error', bump);
} catch { bump(); }
Atomics.add(counter, 1, 1); Atomics.notify(counter, 1);
`;

/** The synchronous form of waitInDir: blocks this thread. */
export function waitInDirSync(dir: string, ready: () => boolean, ms: number): boolean {
  if (ready()) return true;
  const deadline = Date.now() + ms;
  const counter = new Int32Array(new SharedArrayBuffer(8)); // [events, watch in place]
  const worker = new Worker(EVENT_PUMP, { eval: true, workerData: { dir, counter } });
  worker.unref();
  try {
    Atomics.wait(counter, 1, 0, ms);
    for (;;) {
      const seen = Atomics.load(counter, 0);
      if (ready()) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      Atomics.wait(counter, 0, seen, left);
    }
  } finally {
    void worker.terminate();
  }
}
