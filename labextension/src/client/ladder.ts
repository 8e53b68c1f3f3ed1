/**
 * The fallback decision: which transport to try next, and when to wait first.
 *
 * Transports are ordered best first (WebSocket, SSE, XHR streaming, long polling). A
 * *round* tries every enabled transport once, starting from the preferred one (the last
 * that worked, or the best); failing to open moves on at once, and a round that failed
 * everywhere waits a backoff delay before the next. A connection that was open and then
 * dropped is retried on the same transport after a backoff delay, unless it stalled twice
 * in a row without being healthy in between: then it counts as failing to open. While
 * connected below the best transport, the client probes the better ones now and then
 * (`upgradeCandidate`).
 *
 * Pure logic, no timers or I/O. Public names: `TransportLadder`, `TransportName`, `Step`,
 * `TRANSPORTS`.
 */

export type TransportName = 'websocket' | 'sse' | 'stream' | 'poll';

/** All transports, best first. */
export const TRANSPORTS: readonly TransportName[] = ['websocket', 'sse', 'stream', 'poll'];

/** The next attempt: which transport, and whether to wait a backoff delay before it. */
export interface Step {
  transport: TransportName;
  wait: boolean;
}

export class TransportLadder {
  private readonly order: TransportName[];
  private readonly disabled = new Set<TransportName>();
  private readonly stalls = new Map<TransportName, number>();
  private preferred = 0;
  private index = 0;
  private tried = 0;

  /** `enabled`: the transports allowed, in any order; they are tried best first. */
  constructor(enabled: readonly TransportName[] = TRANSPORTS) {
    this.order = TRANSPORTS.filter(name => enabled.includes(name));
    if (this.order.length === 0) {
      throw new Error(`no known transport in [${enabled.join(', ')}]`);
    }
  }

  /** The transport being tried or used. */
  get current(): TransportName {
    return this.order[this.index];
  }

  /** The enabled transports that may still be used, best first. */
  get usable(): TransportName[] {
    return this.order.filter(name => !this.disabled.has(name));
  }

  /** Start a round from the preferred transport. */
  start(): Step {
    this.tried = 0;
    this.index = this.preferred;
    return this.skipDisabled(false);
  }

  /** The current transport opened: it becomes the preferred one. */
  connected(): void {
    this.preferred = this.index;
    this.tried = 0;
  }

  /** The current transport delivered traffic after opening: its stalls are forgiven. */
  healthy(): void {
    this.stalls.delete(this.current);
  }

  /** The current transport failed to open (error, or no answer in time). */
  openFailed(): Step {
    this.tried += 1;
    this.index = (this.index + 1) % this.order.length;
    return this.skipDisabled(false);
  }

  /** The server refused the current transport for good (`transport_disabled`); null if none is left. */
  disable(): Step | null {
    this.disabled.add(this.current);
    if (this.usable.length === 0) {
      return null;
    }
    if (this.disabled.has(this.order[this.preferred])) {
      this.preferred = this.order.indexOf(this.usable[0]);
    }
    return this.openFailed();
  }

  /** An open connection dropped: retry the same transport after a delay. */
  lost(): Step {
    this.tried = 0;
    return { transport: this.current, wait: true };
  }

  /** An open connection went silent (no heartbeat): as `lost`, twice in a row as a failure. */
  stalled(): Step {
    const count = (this.stalls.get(this.current) ?? 0) + 1;
    this.stalls.set(this.current, count);
    if (count < 2) {
      return this.lost();
    }
    this.stalls.delete(this.current);
    if (this.index === this.preferred) {
      this.preferred = (this.preferred + 1) % this.order.length;
    }
    this.tried = 0;
    this.index = this.preferred;
    return this.skipDisabled(true);
  }

  /** A better transport than the current one to probe, if any. */
  upgradeCandidate(): TransportName | null {
    for (let i = 0; i < this.index; i++) {
      const name = this.order[i];
      if (!this.disabled.has(name)) {
        return name;
      }
    }
    return null;
  }

  /** A probe of `name` opened: it becomes the current and preferred transport. */
  upgraded(name: TransportName): void {
    this.index = this.order.indexOf(name);
    this.connected();
  }

  private skipDisabled(wait: boolean): Step {
    while (this.disabled.has(this.order[this.index])) {
      this.tried += 1;
      this.index = (this.index + 1) % this.order.length;
    }
    // A full round failed: wait before the next one, which starts at the preferred.
    if (this.tried >= this.order.length) {
      this.tried = 0;
      this.index = this.preferred;
      while (this.disabled.has(this.order[this.index])) {
        this.index = (this.index + 1) % this.order.length;
      }
      return { transport: this.current, wait: true };
    }
    return { transport: this.current, wait };
  }
}
