/**
 * The messages tabs exchange over a `BroadcastChannel` when they share one connection
 * (see "Sharing one connection between tabs" in `docs/browser-client.md`), and the pure
 * bookkeeping on both sides: a tab's requests waiting for the leader's reply, and the
 * leader's table of which tab follows which channel. No I/O.
 *
 * Public names: `TabMessage`, `TabRequest`, `TabOp`, `SharedEvent`, `TabRequests`,
 * `FollowerTable`, `needsCatchUp`, `lockName`.
 */
import type { ChannelEvent } from './client.js';
import type { ConnectionState } from './connection.js';
import { RealtimeError } from './errors.js';
import type { ErrorBody, Position } from './protocol.js';

/** A channel event as the leader fans it out (binary data is structured-cloned). */
export type SharedEvent = ChannelEvent;
type Publication = Extract<ChannelEvent, { type: 'publication' }>;

/** What a tab asks the leader to do for it. */
export type TabOp =
  | { op: 'subscribe'; channel: string; since?: Position; presence?: boolean }
  | { op: 'unsubscribe'; channel: string }
  | { op: 'publish'; channel: string; data: unknown; key?: string }
  | {
      op: 'history';
      channel: string;
      since?: Position;
      limit?: number;
      key?: string;
      key_prefix?: string;
    }
  | { op: 'presence'; channel: string };

export type TabRequest = TabOp & {
  /** The tab that asks. */
  tab: string;
  /** Its correlation id, unique within the tab. */
  id: number;
  /** The leader it is addressed to: any other leader ignores it. */
  to: string;
};

export type TabMessage =
  /** A new tab asks who leads. */
  | { type: 'hello'; tab: string }
  /** A leader announces itself (on taking the lock, and in answer to `hello`). */
  | { type: 'leader'; from: string; state: ConnectionState }
  | { type: 'request'; request: TabRequest }
  /**
   * The leader's answer to one request of one tab. A subscribe reply carries the
   * publications the tab missed (`replay`), taken from the channel's history when the
   * connection was subscribed already from a later position.
   */
  | {
      type: 'reply';
      from: string;
      tab: string;
      id: number;
      result?: unknown;
      error?: ErrorBody;
      replay?: Publication[];
    }
  /** A channel event, for every tab that follows the channel. */
  | { type: 'event'; from: string; event: SharedEvent }
  /** The connection state of the leader. */
  | { type: 'state'; from: string; state: ConnectionState }
  /** A tab goes away: the leader drops its subscriptions. */
  | { type: 'bye'; tab: string };

/** The lock and `BroadcastChannel` name of the tabs that share a server's connection. */
export function lockName(baseUrl: string, origin?: string): string {
  let url = baseUrl;
  try {
    url = new URL(baseUrl, origin).href;
  } catch {
    // a relative base URL without an origin to resolve it against: use it as given
  }
  return `jupyter-realtime:${url}`;
}

interface Pending {
  op: TabOp;
  sent: boolean;
  resolve(result: unknown): void;
  reject(error: RealtimeError): void;
}

/**
 * A tab's requests to the leader, by correlation id. A request made while no leader is
 * known waits; one sent to a leader that goes away before replying rejects with
 * `unavailable` (it may or may not have run), as a command does on a dropped connection.
 * Subscriptions are not requests of this kind: the tab re-sends them to every new leader.
 */
export class TabRequests {
  private nextId = 1;
  private readonly waiting = new Map<number, Pending>();

  get size(): number {
    return this.waiting.size;
  }

  /** Register `op`; returns its id and the promise of its result. */
  add<T>(op: TabOp): [number, Promise<T>] {
    const id = this.nextId++;
    const promise = new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { op, sent: false, resolve: resolve as (r: unknown) => void, reject });
    });
    return [id, promise];
  }

  /** A fresh id for a message that needs no promise (a subscribe sent again). */
  newId(): number {
    return this.nextId++;
  }

  markSent(id: number): void {
    const pending = this.waiting.get(id);
    if (pending) {
      pending.sent = true;
    }
  }

  /** The requests not sent yet, oldest first, as [id, op]. */
  unsent(): [number, TabOp][] {
    return [...this.waiting].filter(([, p]) => !p.sent).map(([id, p]) => [id, p.op]);
  }

  /** Settle request `id`; false when nothing waits for it. */
  settle(id: number, result: unknown, error?: ErrorBody): boolean {
    const pending = this.waiting.get(id);
    if (pending === undefined) {
      return false;
    }
    this.waiting.delete(id);
    if (error) {
      pending.reject(RealtimeError.from(error));
    } else {
      pending.resolve(result);
    }
    return true;
  }

  /** The leader changed: what was sent to the old one is lost, the rest waits. */
  leaderLost(): void {
    for (const [id, pending] of this.waiting) {
      if (pending.sent) {
        this.waiting.delete(id);
        pending.reject(new RealtimeError('unavailable', 'the leader tab went away before replying'));
      }
    }
  }

  cancel(reason: string): void {
    for (const pending of this.waiting.values()) {
      pending.reject(new RealtimeError('unavailable', reason));
    }
    this.waiting.clear();
  }
}

/**
 * The leader's view of its followers: which tabs follow which channel, and with presence
 * or not. The connection holds a channel while at least one tab follows it.
 */
export class FollowerTable {
  private readonly byChannel = new Map<string, Map<string, { presence: boolean }>>();

  /** Add `tab` to `channel`; true when the channel had no follower before. */
  add(channel: string, tab: string, presence = false): boolean {
    let tabs = this.byChannel.get(channel);
    const first = tabs === undefined;
    if (tabs === undefined) {
      tabs = new Map();
      this.byChannel.set(channel, tabs);
    }
    tabs.set(tab, { presence });
    return first;
  }

  /** Remove `tab` from `channel`; true when that was its last follower. */
  remove(channel: string, tab: string): boolean {
    const tabs = this.byChannel.get(channel);
    if (tabs === undefined || !tabs.delete(tab)) {
      return false;
    }
    if (tabs.size === 0) {
      this.byChannel.delete(channel);
      return true;
    }
    return false;
  }

  /** Remove `tab` everywhere; returns the channels left without a follower. */
  removeTab(tab: string): string[] {
    const emptied: string[] = [];
    for (const channel of [...this.byChannel.keys()]) {
      if (this.remove(channel, tab)) {
        emptied.push(channel);
      }
    }
    return emptied;
  }

  has(channel: string, tab?: string): boolean {
    const tabs = this.byChannel.get(channel);
    return tab === undefined ? tabs !== undefined : tabs?.has(tab) === true;
  }

  followers(channel: string): string[] {
    return [...(this.byChannel.get(channel)?.keys() ?? [])];
  }

  /** True when some follower of `channel` asked for presence. */
  wantsPresence(channel: string): boolean {
    return [...(this.byChannel.get(channel)?.values() ?? [])].some(f => f.presence);
  }

  get tabs(): string[] {
    const all = new Set<string>();
    for (const tabs of this.byChannel.values()) {
      tabs.forEach((_, tab) => all.add(tab));
    }
    return [...all];
  }

  get channels(): string[] {
    return [...this.byChannel.keys()];
  }
}

/**
 * Whether a tab that resumes from `since` needs the channel's history: the connection
 * follows the channel from `current` (the last position it delivered), and a tab behind
 * it in the same epoch would otherwise miss what lies in between. A tab in another epoch
 * cannot be caught up (`recovered: false`: the tab reports a gap); a tab at or ahead of
 * `current` drops what it already saw.
 */
export function needsCatchUp(
  since: Position | undefined,
  current: Position | undefined
): 'none' | 'history' | 'lost' {
  if (since === undefined || current === undefined) {
    return 'none';
  }
  if (since.epoch !== current.epoch) {
    return 'lost';
  }
  return since.offset < current.offset ? 'history' : 'none';
}
