// Client-side limits for a paid endpoint: a cap on requests in flight, and token buckets for
// requests per minute and tokens per minute. Staying under the provider's limits is cheaper
// than hitting them: a 429 still costs a round trip and a backoff sleep.
import { abortError, sleep } from './retry.js';

/** Counting semaphore, FIFO: at most `limit` holders at once. */
export class Semaphore {
  readonly limit: number;
  #held = 0;
  #waiting: (() => void)[] = [];

  constructor(limit: number) {
    if (!(limit >= 1)) throw new RangeError(`concurrency must be >= 1, got ${limit}`);
    this.limit = Math.floor(limit);
  }

  get inFlight(): number {
    return this.#held;
  }

  /** Resolves with a release function once a slot is free. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw abortError(signal);
    if (this.#held < this.limit) {
      this.#held++;
      return this.#releaser();
    }
    await new Promise<void>((ok, fail) => {
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        ok();
      };
      const onAbort = () => {
        this.#waiting = this.#waiting.filter((w) => w !== wake);
        fail(abortError(signal));
      };
      this.#waiting.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return this.#releaser(); // the slot was handed over by the releaser: #held is unchanged
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiting.shift();
      if (next) next(); // hand the slot straight to the next waiter
      else this.#held--;
    };
  }
}

/**
 * Token bucket: refills at `perMinute / 60 000` per ms up to `capacity`. A take larger than the
 * capacity waits for a full bucket and then drives the level negative (debt), so one big
 * request is never starved and the long-run rate still holds. `settle` corrects an estimate
 * once the real cost is known (a refund when positive).
 */
export class TokenBucket {
  readonly perMinute: number;
  readonly capacity: number;
  #level: number;
  #at: number;
  #tail: Promise<void> = Promise.resolve();
  readonly #now: () => number;

  /** `capacity` defaults to one second's worth (at least 1): a smooth rate, not a once-a-minute burst. */
  constructor(perMinute: number, capacity?: number, now: () => number = () => performance.now()) {
    if (!(perMinute > 0)) throw new RangeError(`rate must be > 0 per minute, got ${perMinute}`);
    this.perMinute = perMinute;
    this.capacity = capacity ?? Math.max(1, perMinute / 60);
    this.#level = this.capacity;
    this.#now = now;
    this.#at = now();
  }

  #refill(): number {
    const t = this.#now();
    this.#level = Math.min(this.capacity, this.#level + ((t - this.#at) * this.perMinute) / 60_000);
    this.#at = t;
    return this.#level;
  }

  /** Waits (FIFO behind earlier takers) until `cost` may be spent, then spends it. */
  take(cost: number, signal?: AbortSignal): Promise<void> {
    const mine = this.#tail.then(async () => {
      const need = Math.min(cost, this.capacity);
      for (;;) {
        if (signal?.aborted) throw abortError(signal);
        const level = this.#refill();
        if (level >= need - 1e-9) break;
        await sleep(Math.ceil(((need - level) * 60_000) / this.perMinute), signal);
      }
      this.#level -= cost;
    });
    this.#tail = mine.catch(() => undefined); // one aborted taker must not block the queue
    return mine;
  }

  /** Gives back `amount` (negative charges more); used when usage replaces an estimate. */
  settle(amount: number): void {
    this.#refill();
    this.#level = Math.min(this.capacity, this.#level + amount);
  }
}
