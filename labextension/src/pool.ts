/**
 * The page's realtime connections as a pool of leased clients. Pure: the pool is given how
 * to create a client, so it runs under Node without a page.
 *
 * A view leases the client for its transport list (`acquire`) and gives it back when it
 * goes away (`Lease.release`). A client nobody holds is closed after a grace period (a
 * notebook re-run removes its views and creates new ones at once: they reuse the open
 * connection), and leaves the pool: the pool holds exactly the connections in use.
 *
 * Public names: `ClientPool`, `Lease`, `PoolEntry`, `PoolOptions`, `GRACE_MS`.
 */
import type { RealtimeClientLike, TransportName } from './client/index.js';

/** How long an unused client stays open (ms) before the pool closes it. */
export const GRACE_MS = 1500;

/** A client in use: `release()` gives it back (a second call does nothing). */
export interface Lease {
  readonly client: RealtimeClientLike;
  release(): void;
}

/** One connection of the pool: its key, the transports it may use, its client. */
export interface PoolEntry {
  readonly key: string;
  readonly transports: readonly TransportName[];
  readonly client: RealtimeClientLike;
}

interface Held extends PoolEntry {
  users: number;
  closing: ReturnType<typeof setTimeout> | null;
  stopState: () => void;
}

export interface PoolOptions {
  create(transports: readonly TransportName[]): RealtimeClientLike;
  graceMs?: number;
}

export class ClientPool {
  private readonly held = new Map<string, Held>();
  private readonly listeners = new Set<() => void>();
  private readonly graceMs: number;

  constructor(private readonly options: PoolOptions) {
    this.graceMs = options.graceMs ?? GRACE_MS;
  }

  /** The connections open now (in use, or in their grace period), oldest first. */
  get entries(): PoolEntry[] {
    return [...this.held.values()].map(({ key, transports, client }) => ({
      key,
      transports,
      client
    }));
  }

  /** The client for `transports` (`[]`: the page's shared one), held until released. */
  acquire(transports: readonly TransportName[]): Lease {
    const key = transports.join(',');
    let entry = this.held.get(key);
    if (entry === undefined) {
      const client = this.options.create(transports);
      entry = {
        key,
        transports: [...transports],
        client,
        users: 0,
        closing: null,
        stopState: client.on('state', () => this.changed())
      };
      this.held.set(key, entry);
      this.changed();
    }
    const held = entry;
    if (held.closing !== null) {
      clearTimeout(held.closing);
      held.closing = null;
    }
    held.users += 1;
    let released = false;
    return {
      client: held.client,
      release: () => {
        if (!released) {
          released = true;
          this.release(held);
        }
      }
    };
  }

  /** Call `listener` whenever a connection opens, closes, or changes state. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private release(entry: Held): void {
    entry.users -= 1;
    if (entry.users > 0) {
      return;
    }
    entry.closing = setTimeout(() => {
      entry.closing = null;
      if (entry.users === 0 && this.held.get(entry.key) === entry) {
        this.held.delete(entry.key);
        entry.stopState();
        entry.client.close();
        this.changed();
      }
    }, this.graceMs);
  }

  private changed(): void {
    this.listeners.forEach(listener => {
      try {
        listener();
      } catch (err) {
        console.error('jupyter-realtime: a connection listener failed', err);
      }
    });
  }
}
