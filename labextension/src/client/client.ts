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
import { PositionTracker } from './positions.js';
import {
  type ClientInfo,
  type Command,
  type EventFrame,
  type GapEvent,
  type HistoryResult,
  type Position,
  type PresenceResult,
  type PublicationFrame,
  type PublishResult,
  type ServerFrame,
  type SubscribeResult,
  decodeBase64,
  isValidChannel
} from './protocol.js';
import { Requests } from './requests.js';

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

interface Subscription {
  handlers: Set<ChannelHandler>;
  presence: boolean;
  result: SubscribeResult | null;
  waiters: { resolve(r: SubscribeResult): void; reject(e: Error): void }[];
}

type StateListener = (state: ConnectionState) => void;

export class RealtimeClient {
  private readonly connection: Connection;
  private readonly requests = new Requests();
  private readonly positions = new PositionTracker();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly listeners = new Set<StateListener>();
  private batch: Command[] = [];
  private current: ConnectionState = { state: 'disconnected', reason: 'not connected yet' };

  constructor(options: ClientOptions = {}) {
    this.connection = new Connection(
      {
        open: () => this.onOpen(),
        frame: frame => this.onFrame(frame),
        lost: () => this.requests.lost(),
        idle: () => !this.requests.inFlight,
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
  }

  /** Listen to connection state changes; returns a function that stops listening. */
  on(_event: 'state', listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Call `handler` with the channel's publications, gaps and presence events. Resolves
   * when the server confirmed the subscription (at once if it already had).
   */
  subscribe(
    channel: string,
    handler: ChannelHandler,
    options: SubscribeOptions = {}
  ): Promise<SubscribeResult> {
    if (!isValidChannel(channel)) {
      return Promise.reject(new RealtimeError('bad_request', `bad channel name ${channel}`));
    }
    let sub = this.subscriptions.get(channel);
    if (sub === undefined) {
      sub = { handlers: new Set(), presence: !!options.presence, result: null, waiters: [] };
      this.subscriptions.set(channel, sub);
      if (options.since && this.positions.get(channel) === undefined) {
        this.positions.set(channel, options.since);
      }
      this.sendSubscribe(channel, sub);
    }
    sub.handlers.add(handler);
    const { result } = sub;
    if (result) {
      return Promise.resolve(result);
    }
    return new Promise((resolve, reject) => sub.waiters.push({ resolve, reject }));
  }

  /** Remove `handler` (or every handler) of `channel`; the last one unsubscribes. */
  async unsubscribe(channel: string, handler?: ChannelHandler): Promise<void> {
    const sub = this.subscriptions.get(channel);
    if (sub === undefined) {
      return;
    }
    if (handler) {
      sub.handlers.delete(handler);
    } else {
      sub.handlers.clear();
    }
    if (sub.handlers.size === 0) {
      this.subscriptions.delete(channel);
      this.positions.delete(channel);
      if (this.connection.transport !== null) {
        await this.request({ op: 'unsubscribe', channel }).catch(() => undefined);
      }
    }
  }

  /** Publish JSON data, or bytes (`Uint8Array`, `ArrayBuffer`) as a binary publication. */
  publish(channel: string, data: unknown): Promise<PublishResult> {
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      const view = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      return this.request<PublishResult>({ op: 'publish', channel }, bytes);
    }
    return this.request<PublishResult>({ op: 'publish', channel, data });
  }

  /** The newest `limit` publications, or the first `limit` after `since`. */
  history(
    channel: string,
    options: { since?: Position; limit?: number } = {}
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

  private sendSubscribe(channel: string, sub: Subscription): void {
    if (this.connection.transport === null) {
      return; // sent by onOpen
    }
    const since = this.positions.get(channel);
    this.positions.beginSubscribe(channel);
    const command: Command = { op: 'subscribe', channel };
    if (since) {
      command.since = since;
    }
    if (sub.presence) {
      command.presence = true;
    }
    this.request<SubscribeResult>(command).then(
      result => this.onSubscribed(channel, sub, result, since),
      (error: RealtimeError) => {
        if (this.subscriptions.get(channel) !== sub || error.code === 'unavailable') {
          return; // unsubscribed meanwhile, or lost with the connection: resent on open
        }
        this.subscriptions.delete(channel);
        this.positions.delete(channel);
        sub.waiters.splice(0).forEach(w => w.reject(error));
      }
    );
  }

  private onSubscribed(
    channel: string,
    sub: Subscription,
    result: SubscribeResult,
    since: Position | undefined
  ): void {
    if (this.subscriptions.get(channel) !== sub) {
      return;
    }
    const gap = this.positions.subscribed(channel, result, since);
    if (gap) {
      this.emitGap(gap);
    }
    sub.result = result;
    sub.waiters.splice(0).forEach(w => w.resolve(result));
  }

  // -- connection events --

  private onOpen(): void {
    this.batch = [];
    for (const [channel, sub] of this.subscriptions) {
      this.sendSubscribe(channel, sub);
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
    if (!this.subscriptions.has(frame.channel)) {
      return;
    }
    const verdict = this.positions.accept(frame.channel, frame.epoch, frame.offset);
    if (verdict.gap) {
      this.emitGap(verdict.gap);
    }
    if (verdict.deliver) {
      const data = bytes ?? (frame.data_b64 !== undefined ? decodeBase64(frame.data_b64) : frame.data);
      const { channel, epoch, offset, ts, sender } = frame;
      this.emit(channel, { type: 'publication', channel, epoch, offset, data, ts, sender });
    }
  }

  private onEvent(frame: EventFrame): void {
    if (frame.event === 'gap') {
      if (this.subscriptions.has(frame.channel) && this.positions.gap(frame)) {
        this.emitGap(frame);
      }
    } else if (frame.event === 'join' || frame.event === 'leave') {
      this.emit(frame.channel, { type: frame.event, channel: frame.channel, client: frame.client });
    }
  }

  private emitGap(gap: GapEvent): void {
    const { channel, epoch, offset } = gap;
    this.emit(channel, { type: 'gap', channel, epoch, offset });
  }

  private emit(channel: string, event: ChannelEvent): void {
    callEach(this.subscriptions.get(channel)?.handlers ?? [], event, `a handler of ${channel}`);
  }

  private setState(state: ConnectionState): void {
    this.current = state;
    callEach(this.listeners, state, 'a state listener');
  }
}
