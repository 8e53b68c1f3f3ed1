/**
 * Exponential backoff with full jitter: the n-th retry waits a uniformly random time in
 * [0, min(max, base * 2^n)] ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015).
 * Full jitter spreads the reconnections of many clients after a server restart.
 *
 * Public names: `Backoff`, `BackoffOptions`.
 */

export interface BackoffOptions {
  /** The ceiling of the first delay, in ms (default 500). */
  base?: number;
  /** The largest ceiling, in ms (default 20000). */
  max?: number;
  /** A source of uniform numbers in [0, 1) (default Math.random), for tests. */
  random?: () => number;
}

export class Backoff {
  private readonly base: number;
  private readonly max: number;
  private readonly random: () => number;
  private n = 0;

  constructor(options: BackoffOptions = {}) {
    this.base = options.base ?? 500;
    this.max = options.max ?? 20000;
    this.random = options.random ?? Math.random;
  }

  /** How many delays were taken since the last reset. */
  get attempt(): number {
    return this.n;
  }

  /** The ceiling of the delay for attempt `n`. */
  ceiling(n: number): number {
    return Math.min(this.max, this.base * 2 ** Math.min(n, 30));
  }

  /** The next delay in ms; each call moves to the next attempt. */
  next(): number {
    const delay = Math.floor(this.random() * this.ceiling(this.n));
    this.n += 1;
    return delay;
  }

  /** Back to the first attempt (after a connection that held). */
  reset(): void {
    this.n = 0;
  }
}
