/**
 * Tab sharing: every tab of an origin that talks to one Jupyter server uses one
 * connection, held by a leader tab (see "Sharing one connection between tabs" in
 * `docs/browser-client.md`).
 *
 * ```ts
 * const client = connectShared('/user/alice/', token);   // same interface as RealtimeClient
 * await client.subscribe('train:metrics', event => plot(event));
 * ```
 *
 * - The leader is the tab that holds the Web Lock `jupyter-realtime:<absolute base URL>`;
 *   the browser hands the lock to a waiting tab when the leader closes or crashes.
 * - Tabs talk over a `BroadcastChannel` of the same name: requests with a tab id and a
 *   correlation id, answered to that tab; channel events and state changes for every tab.
 * - Each tab keeps its own positions: after a leader change it subscribes again with
 *   `since` = its last position and drops what it saw already (see `leader.ts`).
 * - Without `navigator.locks` or `BroadcastChannel`, or with `share: false`, the factory
 *   returns a plain `RealtimeClient` with its own connection.
 *
 * Public names: `connectShared`, `SharedClient`, `SharedOptions`, `RealtimeClientLike`.
 */
import {
  type ChannelEvent,
  type ChannelHandler,
  type ClientOptions,
  RealtimeClient,
  type SubscribeOptions
} from './client.js';
import type { ConnectionState } from './connection.js';
import { callEach } from './dispatch.js';
import { RealtimeError } from './errors.js';
import { Leader, type SharableClient } from './leader.js';
import type {
  HistoryResult,
  Position,
  PresenceResult,
  PublishResult,
  SubscribeResult
} from './protocol.js';
import { type Attempt, type Subscription, Subscriptions } from './subscriptions.js';
import { type TabMessage, type TabOp, TabRequests, lockName } from './tabs.js';

/** The public interface of `RealtimeClient` once connected; `connectShared` returns one. */
export type RealtimeClientLike = SharableClient;

/** The parts of the Web Locks API the sharing uses. */
export interface LockManagerLike {
  request(
    name: string,
    options: { signal?: AbortSignal },
    callback: (lock: unknown) => Promise<unknown> | unknown
  ): Promise<unknown>;
}

/** The parts of `BroadcastChannel` the sharing uses. */
export interface BroadcastChannelLike {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

export interface SharedOptions extends ClientOptions {
  /** false: always use a connection of this tab's own (default true). */
  share?: boolean;
  /** The Web Locks API (default `navigator.locks`). */
  locks?: LockManagerLike;
  /** Open a broadcast channel (default `new BroadcastChannel(name)`). */
  broadcastChannel?: (name: string) => BroadcastChannelLike;
  /** Open the leader's connection (default a connected `RealtimeClient`). */
  createClient?: () => SharableClient;
}

/**
 * Connect to the Jupyter server at `baseUrl` with `token`, sharing one connection with the
 * other tabs of this origin when the browser allows it.
 */
export function connectShared(
  baseUrl: string,
  token = '',
  options: SharedOptions = {}
): RealtimeClientLike {
  const g = globalThis as {
    navigator?: { locks?: LockManagerLike };
    BroadcastChannel?: new (name: string) => BroadcastChannelLike;
  };
  const locks = options.locks ?? g.navigator?.locks;
  const Channel = g.BroadcastChannel;
  const broadcastChannel =
    options.broadcastChannel ?? (Channel ? (name: string) => new Channel(name) : undefined);
  if (options.share === false || locks === undefined || broadcastChannel === undefined) {
    const client = new RealtimeClient(options);
    client.connect(baseUrl, token);
    return client;
  }
  const createClient =
    options.createClient ??
    (() => {
      const client = new RealtimeClient(options);
      client.connect(baseUrl, token);
      return client;
    });
  const origin = (g as { location?: { href: string } }).location?.href;
  return new SharedClient(lockName(baseUrl, origin), locks, broadcastChannel, createClient);
}

/** A subscribe request to the leader, and the events that arrived while it was pending. */
interface TabAttempt extends Attempt {
  /** Its correlation id. */
  id: number;
  /** Events held until its reply, delivered after the reply's replay. */
  buffer: ChannelEvent[];
}

type StateListener = (state: ConnectionState) => void;

function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  return c?.randomUUID ? c.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** One tab's client when tabs share a connection; the leader tab also runs the `Leader`. */
export class SharedClient implements RealtimeClientLike {
  /** This tab's id. */
  readonly tab = randomId();
  private readonly channel: BroadcastChannelLike;
  private readonly requests = new TabRequests();
  private readonly subscriptions = new Subscriptions<TabAttempt>();
  private readonly listeners = new Set<StateListener>();
  private readonly abort = new AbortController();
  private current: ConnectionState = { state: 'connecting' };
  private leaderId: string | null = null;
  private leader: Leader | null = null;
  private closed = false;
  private release: () => void = () => undefined;
  private readonly released: Promise<void>;

  constructor(
    readonly name: string,
    private readonly locks: LockManagerLike,
    broadcastChannel: (name: string) => BroadcastChannelLike,
    private readonly createClient: () => SharableClient
  ) {
    this.released = new Promise(resolve => (this.release = resolve));
    this.channel = broadcastChannel(name);
    this.channel.onmessage = event => this.onMessage(event.data as TabMessage);
    const signal = this.abort.signal;
    // This tab's own lock, held while it lives: the leader waits on it to learn that the
    // tab is gone. Taken before the tab says hello, so the leader cannot take it first.
    this.locks
      .request(this.tabLock(this.tab), { signal }, () => {
        if (!this.closed) {
          this.post({ type: 'hello', tab: this.tab });
          this.locks
            .request(name, { signal }, () => this.lead())
            .catch(() => undefined);
        }
        return this.released;
      })
      .catch(() => undefined);
  }

  /** True while this tab holds the connection. */
  get isLeader(): boolean {
    return this.leader !== null;
  }

  get state(): ConnectionState {
    return this.current;
  }

  on(_event: 'state', listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Leave: give up the lead (another tab takes it) and fail what waits. */
  close(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.requests.cancel('the client was closed');
    this.subscriptions.close('the client was closed');
    if (this.leader) {
      this.leader.close();
      this.leader = null;
    }
    this.channel.postMessage({ type: 'bye', tab: this.tab } satisfies TabMessage);
    this.abort.abort();
    this.release();
    this.channel.close();
    this.setState({ state: 'disconnected', reason: 'closed' });
  }

  subscribe(channel: string, handler: ChannelHandler, options: SubscribeOptions = {}): Promise<SubscribeResult> {
    if (this.closed) {
      return Promise.reject(new RealtimeError('unavailable', 'the client was closed'));
    }
    return this.subscriptions.add(channel, handler, options, sub => this.sendSubscribe(sub));
  }

  async unsubscribe(channel: string, handler?: ChannelHandler): Promise<void> {
    if (this.subscriptions.remove(channel, handler) && this.leaderId !== null) {
      await this.request({ op: 'unsubscribe', channel }).catch(() => undefined);
    }
  }

  publish(channel: string, data: unknown, options: { key?: string } = {}): Promise<PublishResult> {
    return this.request<PublishResult>({ op: 'publish', channel, data, ...options });
  }

  history(
    channel: string,
    options: { since?: Position; limit?: number; key?: string; key_prefix?: string } = {}
  ): Promise<HistoryResult> {
    return this.request<HistoryResult>({ op: 'history', channel, ...options });
  }

  presence(channel: string): Promise<PresenceResult> {
    return this.request<PresenceResult>({ op: 'presence', channel });
  }

  // -- leading --

  private tabLock(tab: string): string {
    return `${this.name}:tab:${tab}`;
  }

  /** The lock is ours: open the connection, announce it, hold the lock until closed. */
  private lead(): Promise<void> {
    if (this.closed) {
      return Promise.resolve();
    }
    const signal = this.abort.signal;
    this.leader = new Leader(this.tab, this.createClient(), {
      send: message => {
        if (this.closed) {
          return; // a reply settled after close(): no tab waits for it here any more
        }
        this.channel.postMessage(message);
        this.onMessage(message);
      },
      watchTab: (tab, gone) => {
        this.locks
          .request(this.tabLock(tab), { signal }, () => {
            if (!signal.aborted) {
              gone();
            }
          })
          .catch(() => undefined);
      }
    });
    this.leader.announce();
    return this.released;
  }

  // -- messages --

  private post(message: TabMessage): void {
    if (this.leader !== null) {
      this.deliverToLeader(message);
    } else {
      this.channel.postMessage(message);
    }
  }

  /** What the leader of this tab does with a message from any tab, its own included. */
  private deliverToLeader(message: TabMessage): void {
    const leader = this.leader;
    if (leader === null) {
      return;
    }
    if (message.type === 'hello') {
      leader.hello(message.tab);
    } else if (message.type === 'request') {
      leader.handle(message.request);
    } else if (message.type === 'bye') {
      leader.dropTab(message.tab);
    }
  }

  private onMessage(message: TabMessage): void {
    if (this.closed) {
      return;
    }
    switch (message.type) {
      case 'hello':
      case 'request':
      case 'bye':
        if (message.type === 'bye' && message.tab === this.leaderId) {
          this.leaderGone();
        }
        this.deliverToLeader(message);
        break;
      case 'leader':
        if (message.from !== this.leaderId) {
          this.newLeader(message.from);
        }
        this.setState(message.state);
        break;
      case 'state':
        if (message.from === this.leaderId) {
          this.setState(message.state);
        }
        break;
      case 'event':
        if (message.from === this.leaderId) {
          this.onEvent(message.event);
        }
        break;
      case 'reply':
        if (message.from === this.leaderId && message.tab === this.tab) {
          this.onReply(message);
        }
        break;
    }
  }

  private leaderGone(): void {
    this.leaderId = null;
    this.requests.leaderLost();
    this.setState({ state: 'reconnecting', attempt: 1, delay: 0, reason: 'the leader tab went away' });
  }

  /** A new leader: what the old one did not answer fails, subscriptions go again with `since`. */
  private newLeader(id: string): void {
    this.leaderId = id;
    this.requests.leaderLost();
    for (const sub of this.subscriptions.all()) {
      this.sendSubscribe(sub);
    }
    for (const [reqId, op] of this.requests.unsent()) {
      this.requests.markSent(reqId);
      this.sendRequest(reqId, op);
    }
  }

  private sendRequest(id: number, op: TabOp): void {
    if (this.leaderId === null) {
      return;
    }
    this.post({ type: 'request', request: { ...op, tab: this.tab, id, to: this.leaderId } });
  }

  private request<T>(op: TabOp): Promise<T> {
    if (this.closed) {
      return Promise.reject(new RealtimeError('unavailable', 'the client was closed'));
    }
    if (op.op === 'publish' && op.data instanceof ArrayBuffer) {
      op = { ...op, data: new Uint8Array(op.data) };
    }
    const [id, promise] = this.requests.add<T>(op);
    if (this.leaderId !== null) {
      this.requests.markSent(id);
      this.sendRequest(id, op);
    }
    return promise;
  }

  private sendSubscribe(sub: Subscription<TabAttempt>): void {
    if (this.leaderId === null) {
      return; // sent when a leader announces itself
    }
    const attempt = this.subscriptions.begin(sub, { id: this.requests.newId(), buffer: [] });
    const op: TabOp = { op: 'subscribe', channel: sub.channel };
    if (attempt.since) {
      op.since = attempt.since;
    }
    if (sub.presence) {
      op.presence = true;
    }
    this.sendRequest(attempt.id, op);
  }

  private onReply(message: Extract<TabMessage, { type: 'reply' }>): void {
    const sub = this.subscriptions.all().find(s => s.attempt?.id === message.id);
    if (sub?.attempt) {
      this.onSubscribed(sub, sub.attempt, message);
      return;
    }
    this.requests.settle(message.id, message.result, message.error);
  }

  private onSubscribed(
    sub: Subscription<TabAttempt>,
    attempt: TabAttempt,
    message: Extract<TabMessage, { type: 'reply' }>
  ): void {
    if (message.error) {
      this.subscriptions.fail(sub, attempt, RealtimeError.from(message.error));
      return;
    }
    // What the leader read from history for this tab, then what it fanned out meanwhile:
    // the positions drop the overlap and report a hole once.
    for (const event of [...(message.replay ?? []), ...attempt.buffer]) {
      this.subscriptions.deliver(event);
    }
    this.subscriptions.confirm(sub, attempt, message.result as SubscribeResult);
  }

  private onEvent(event: ChannelEvent): void {
    const attempt = this.subscriptions.get(event.channel)?.attempt;
    if (attempt) {
      attempt.buffer.push(event);
    } else {
      this.subscriptions.deliver(event);
    }
  }

  private setState(state: ConnectionState): void {
    this.current = state;
    callEach(this.listeners, state, 'a state listener');
  }
}
