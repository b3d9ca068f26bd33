// A small time-limited cache for lookupd: answers (found or not found) are kept for
// a while, the oldest go first when it is full, and concurrent misses for the same
// key share one lookup.
export interface CacheStats {
  hits: number;
  misses: number;
  size: number;
}

export class LookupCache<T> {
  #entries = new Map<string, { value: T | null; expires: number }>();
  #inflight = new Map<string, Promise<T | null>>();
  #hits = 0;
  #misses = 0;

  /**
   * @param foundMs how long an answer that found something is kept
   * @param missingMs how long "no such entry" is kept
   * @param max entries kept at most
   */
  constructor(private readonly foundMs: number, private readonly missingMs: number, private readonly max: number) {}

  /** The cached answer for `key`, else `load()`'s, which is then cached (errors are not). */
  async get(key: string, load: () => Promise<T | null>): Promise<T | null> {
    const e = this.#entries.get(key);
    if (e && e.expires > Date.now()) {
      this.#hits++;
      return e.value;
    }
    this.#entries.delete(key);
    const pending = this.#inflight.get(key);
    if (pending) {
      this.#hits++;
      return pending;
    }
    this.#misses++;
    const p = load().then((value) => {
      this.#store(key, value);
      return value;
    });
    this.#inflight.set(key, p);
    try {
      return await p;
    } finally {
      this.#inflight.delete(key);
    }
  }

  #store(key: string, value: T | null): void {
    if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { value, expires: Date.now() + (value === null ? this.missingMs : this.foundMs) });
  }

  get stats(): CacheStats {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size };
  }
}
