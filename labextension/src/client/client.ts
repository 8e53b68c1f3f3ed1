/**
 * `RealtimeClient`: channels over one connection per page, on whichever transport works.
 *
 * ```ts
 * const client = new RealtimeClient({ transports: ['sse', 'poll'] });
 * client.on('state', s => console.log(s));
 * client.connect('/', token);
 * await client.subscribe('news', event => console.log(event));
 * await client.publish('news', { hello: 'world' });
 * ```
 *
 * Guarantees: a handler sees each publication of its channel at most once and in order;
 * after a reconnection the client resubscribes with `since` (the last position it
 * delivered), and a loss the server cannot replay reaches the handlers as a `gap` event.
 * Commands are sent at most once: a reply lost with the connection rejects with
 * `unavailable`. A handler that throws is logged and does not affect the others.
 *
 * Public names: `RealtimeClient`, `ClientOptions`, `ChannelEvent`, `ChannelHandler`,
 * `SubscribeOptions`.
 */
import { Connection, type ConnectionOptions, type ConnectionState } from './connection.js';
import { callEach } from './dispatch.js';
import { RealtimeError } from './errors.js';
import { Endpoint } from './http.js';
import {
  type ClientInfo,
  type Command,
  type EventFrame,
  type HistoryResult,
  type Position,
  type PresenceResult,
  type PublicationFrame,
  type PublishResult,
  type ServerFrame,
  type SubscribeResult,
  type SubscribedEvent,
  decodeBase64
} from './protocol.js';
import { Requests } from './requests.js';
import { type Attempt, type Subscription, Subscriptions } from './subscriptions.js';

export type ChannelEvent =
  | {
      type: 'publication';
      channel: string;
      epoch: string;
      offset: number;
      /** The JSON value, or the bytes of a binary publication. */
      data: unknown;
      ts: number;
      sender: string | null;
      /** The verified display name of `sender` (null when the server stamped none). */
      senderName: string | null;
      /** The publication's key, when it was published with one. */
      key?: string;
    }
  | { type: 'gap'; channel: string; epoch: string; offset: number }
  | { type: 'join' | 'leave'; channel: string; client: ClientInfo };

export type ChannelHandler = (event: ChannelEvent) => void;

export interface SubscribeOptions {
  /** Replay what came after this position first (when the page has none of its own). */
  since?: Position;
  /** Add this connection to the channel's presence list. */
  presence?: boolean;
}

export type ClientOptions = ConnectionOptions;

type StateListener = (state: ConnectionState) => void;

export class RealtimeClient {
  private readonly connection: Connection;
  private readonly requests = new Requests();
  private readonly subscriptions = new Subscriptions();
  /**
   * Per channel, the subscribes sent on this connection whose outcome is announced on the
   * downlink (HTTP sessions), oldest first: each `subscribed` event answers the oldest.
   */
  private announced = new Map<string, Attempt[]>();
  private readonly listeners = new Set<StateListener>();
  private batch: Command[] = [];
  private current: ConnectionState = { state: 'disconnected', reason: 'not connected yet' };

  constructor(options: ClientOptions = {}) {
    this.connection = new Connection(
      {
        open: () => this.onOpen(),
        frame: frame => this.onFrame(frame),
        lost: unrun => (unrun ? this.requests.requeue() : this.requests.lost()),
        idle: () => !this.requests.inFlight && !this.subscriptions.confirming,
        state: state => this.setState(state)
      },
      options
    );
  }

  /** The connection state, as last announced to `on('state')` listeners. */
  get state(): ConnectionState {
    return this.current;
  }

  /** Connect to the Jupyter server at `baseUrl` (its `base_url`) with `token` ('' for the cookie). */
  connect(baseUrl: string, token = ''): void {
    this.connection.start(new Endpoint(baseUrl, token));
  }

  /** Close the connection; commands waiting for a reply fail with `unavailable`. */
  close(): void {
    this.connection.stop();
    this.requests.cancel('the client was closed');
    this.subscriptions.close('the client was closed');
  }

  /** Listen to connection state changes; returns a function that stops listening. */
  on(_event: 'state', listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Call `handler` with the channel's publications, gaps and presence events. Resolves
   * when the server confirmed the subscription (at once if it already had); rejects with
   * the server's error, or with `unavailable` if the channel is unsubscribed first.
   */
  subscribe(
    channel: string,
    handler: ChannelHandler,
    options: SubscribeOptions = {}
  ): Promise<SubscribeResult> {
    return this.subscriptions.add(channel, handler, options, sub => this.sendSubscribe(sub));
  }

  /** Remove `handler` (or every handler) of `channel`; the last one unsubscribes. */
  async unsubscribe(channel: string, handler?: ChannelHandler): Promise<void> {
    if (this.subscriptions.remove(channel, handler) && this.connection.transport !== null) {
      await this.request({ op: 'unsubscribe', channel }).catch(() => undefined);
    }
  }

  /** Publish JSON data, or bytes (`Uint8Array`, `ArrayBuffer`) as a binary publication. */
  publish(channel: string, data: unknown, options: { key?: string } = {}): Promise<PublishResult> {
    const keyed = options.key !== undefined ? { key: options.key } : {};
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      const view = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      return this.request<PublishResult>({ op: 'publish', channel, ...keyed }, bytes);
    }
    return this.request<PublishResult>({ op: 'publish', channel, data, ...keyed });
  }

  /**
   * The newest `limit` publications, or the first `limit` after `since`; with `key`, the
   * latest publication of that key (however many came after it).
   */
  history(
    channel: string,
    options: { since?: Position; limit?: number; key?: string; key_prefix?: string } = {}
  ): Promise<HistoryResult> {
    return this.request<HistoryResult>({ op: 'history', channel, ...options });
  }

  /** Who is subscribed to `channel` with `presence: true`. */
  presence(channel: string): Promise<PresenceResult> {
    return this.request<PresenceResult>({ op: 'presence', channel });
  }

  // -- commands --

  private request<T>(command: Command, bytes?: Uint8Array): Promise<T> {
    const [request, promise] = this.requests.add(command, bytes);
    if (this.connection.transport !== null) {
      request.sent = true;
      this.write(request.command, bytes);
    }
    return promise as Promise<T>;
  }

  /** Send now, batching what is sent in one task into one HTTP request. */
  private write(command: Command, bytes?: Uint8Array): void {
    if (bytes) {
      this.flush();
      this.connection.sendBinary(command as Command & { op: 'publish' }, bytes);
      return;
    }
    this.batch.push(command);
    if (this.batch.length === 1) {
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    const batch = this.batch;
    this.batch = [];
    if (batch.length > 0) {
      this.connection.send(batch);
    }
  }

  /**
   * Send the subscribe of `sub`. Its outcome comes in the reply (WebSocket: the reply
   * follows the replay on the same socket), or, when the reply says `announced`, in a
   * `subscribed` event on the downlink behind the replay (HTTP sessions: the reply and
   * the downlink travel apart, in no certain order). Either way the position moves only
   * once the replay was delivered.
   */
  private sendSubscribe(sub: Subscription): void {
    if (this.connection.transport === null) {
      return; // sent by onOpen
    }
    const { channel } = sub;
    const attempt = this.subscriptions.begin(sub, {});
    const command: Command = { op: 'subscribe', channel };
    if (attempt.since) {
      command.since = attempt.since;
    }
    if (sub.presence) {
      command.presence = true;
    }
    const queue = this.announced.get(channel) ?? [];
    this.announced.set(channel, queue);
    queue.push(attempt);
    const answered = () => {
      const i = queue.indexOf(attempt);
      if (i >= 0) {
        queue.splice(i, 1);
      }
    };
    this.request<Record<string, unknown>>(command).then(
      result => {
        if (result.announced === true) {
          return; // the outcome comes on the downlink (or came already)
        }
        answered();
        this.subscriptions.confirm(sub, attempt, result as unknown as SubscribeResult);
      },
      (error: RealtimeError) => {
        answered();
        if (error.code === 'unavailable' && this.connection.transport === null) {
          return; // lost with the connection: sent again on open
        }
        this.subscriptions.fail(sub, attempt, error);
      }
    );
  }

  /** A `subscribed` event: the outcome of the oldest announced subscribe of its channel. */
  private onAnnounced(frame: SubscribedEvent): void {
    const attempt = this.announced.get(frame.channel)?.shift();
    const sub = this.subscriptions.get(frame.channel);
    if (attempt !== undefined && sub !== undefined) {
      this.subscriptions.confirm(sub, attempt, frame);
    }
  }

  // -- connection events --

  private onOpen(): void {
    this.batch = [];
    this.announced = new Map();
    for (const sub of this.subscriptions.all()) {
      this.sendSubscribe(sub);
    }
    for (const request of this.requests.unsent()) {
      request.sent = true;
      this.write(request.command, request.bytes);
    }
  }

  private onFrame(frame: ServerFrame): void {
    if (frame.kind === 'reply') {
      this.requests.settle(frame.frame);
    } else if (frame.kind === 'publication') {
      this.onPublication(frame.frame, frame.bytes);
    } else {
      this.onEvent(frame.frame);
    }
  }

  private onPublication(frame: PublicationFrame, bytes?: Uint8Array): void {
    if (this.subscriptions.get(frame.channel) === undefined) {
      return;
    }
    const data = bytes ?? (frame.data_b64 !== undefined ? decodeBase64(frame.data_b64) : frame.data);
    const { channel, epoch, offset, ts, sender, key } = frame;
    const senderName = frame.sender_name ?? null;
    this.subscriptions.deliver({ type: 'publication', channel, epoch, offset, data, ts, sender, senderName, key });
  }

  private onEvent(frame: EventFrame): void {
    if (frame.event === 'gap') {
      const { channel, epoch, offset } = frame;
      this.subscriptions.deliver({ type: 'gap', channel, epoch, offset });
    } else if (frame.event === 'join' || frame.event === 'leave') {
      this.subscriptions.deliver({ type: frame.event, channel: frame.channel, client: frame.client });
    } else if (frame.event === 'subscribed') {
      this.onAnnounced(frame);
    }
  }

  private setState(state: ConnectionState): void {
    this.current = state;
    callEach(this.listeners, state, 'a state listener');
  }
}
