/**
 * The subscriptions of one client, written once for `RealtimeClient` (its own connection)
 * and `SharedClient` (a tab of a shared connection): each channel's handlers, the promises
 * of its `subscribe`, its position, and the delivery of its events to the handlers.
 *
 * Guarantees to the page:
 * - every promise returned by `subscribe` settles exactly once: with the result once the
 *   subscription is confirmed, with the server's error, or with `unavailable` when the
 *   channel is unsubscribed (or the client closed) before that;
 * - handlers see each publication at most once and in order, and a loss as one `gap`
 *   (see `positions.ts`);
 * - a confirmation counts only for the subscribe attempt it answers: one that arrives
 *   for an attempt that was replaced (a resubscribe after a reconnection, an unsubscribe
 *   and a new subscribe) is ignored.
 *
 * Pure logic, no I/O: the owner sends the commands. Public names: `Subscriptions`,
 * `Subscription`, `Attempt`.
 */
import type { ChannelEvent, ChannelHandler, SubscribeOptions } from './client.js';
import { callEach } from './dispatch.js';
import { RealtimeError } from './errors.js';
import { PositionTracker } from './positions.js';
import { type GapEvent, type Position, type SubscribeResult, isValidChannel } from './protocol.js';

/** One subscribe command in flight, and the `since` it carried. */
export interface Attempt {
  since?: Position;
}

export interface Subscription<A extends Attempt = Attempt> {
  readonly channel: string;
  readonly handlers: Set<ChannelHandler>;
  readonly presence: boolean;
  /** The last confirmed result; null until the first confirmation. */
  result: SubscribeResult | null;
  /** The subscribe in flight, if any. */
  attempt: A | null;
  waiters: { resolve(r: SubscribeResult): void; reject(e: Error): void }[];
}

export class Subscriptions<A extends Attempt = Attempt> {
  readonly positions = new PositionTracker();
  private readonly subs = new Map<string, Subscription<A>>();

  get(channel: string): Subscription<A> | undefined {
    return this.subs.get(channel);
  }

  all(): Subscription<A>[] {
    return [...this.subs.values()];
  }

  /** True while some subscribe awaits its confirmation. */
  get confirming(): boolean {
    return this.all().some(sub => sub.attempt !== null);
  }

  /**
   * Add `handler` to `channel`. `send` is called when the channel is new (the owner sends
   * the subscribe, now or once connected). Resolves once the subscription is confirmed.
   */
  add(
    channel: string,
    handler: ChannelHandler,
    options: SubscribeOptions,
    send: (sub: Subscription<A>) => void
  ): Promise<SubscribeResult> {
    if (!isValidChannel(channel)) {
      return Promise.reject(new RealtimeError('bad_request', `bad channel name ${channel}`));
    }
    let sub = this.subs.get(channel);
    if (sub === undefined) {
      sub = { channel, handlers: new Set(), presence: !!options.presence, result: null, attempt: null, waiters: [] };
      this.subs.set(channel, sub);
      if (options.since && this.positions.get(channel) === undefined) {
        this.positions.set(channel, options.since);
      }
      send(sub);
    }
    sub.handlers.add(handler);
    const { result } = sub;
    if (result) {
      return Promise.resolve(result);
    }
    const waiting = sub;
    return new Promise((resolve, reject) => waiting.waiters.push({ resolve, reject }));
  }

  /**
   * Remove `handler` (or every handler) of `channel`. True when that was the last one: the
   * channel is forgotten (the owner sends the unsubscribe), and a subscribe still waiting
   * for its confirmation rejects.
   */
  remove(channel: string, handler?: ChannelHandler): boolean {
    const sub = this.subs.get(channel);
    if (sub === undefined) {
      return false;
    }
    if (handler) {
      sub.handlers.delete(handler);
    } else {
      sub.handlers.clear();
    }
    if (sub.handlers.size > 0) {
      return false;
    }
    this.forget(sub, new RealtimeError('unavailable', `unsubscribed from ${channel} before the subscription was confirmed`));
    return true;
  }

  /** A subscribe for `sub` is about to be sent; `attempt` gets the `since` it must carry. */
  begin(sub: Subscription<A>, attempt: A): A {
    attempt.since = this.positions.get(sub.channel);
    this.positions.beginSubscribe(sub.channel);
    sub.attempt = attempt;
    return attempt;
  }

  /** True when `attempt` is the subscribe in flight of a channel still subscribed. */
  isCurrent(sub: Subscription<A>, attempt: A): boolean {
    return this.subs.get(sub.channel) === sub && sub.attempt === attempt;
  }

  /**
   * The subscription is confirmed at `result` (what was replayed came before): move the
   * position, report a loss the server could not replay, resolve the waiting promises.
   */
  confirm(sub: Subscription<A>, attempt: A, result: SubscribeResult): void {
    if (!this.isCurrent(sub, attempt)) {
      return;
    }
    const { epoch, offset, recovered } = result;
    const gap = this.positions.subscribed(sub.channel, { epoch, offset, recovered }, attempt.since);
    if (gap) {
      this.emitGap(gap);
    }
    sub.attempt = null;
    sub.result = { epoch, offset, recovered };
    sub.waiters.splice(0).forEach(w => w.resolve({ epoch, offset, recovered }));
  }

  /** The server refused the subscribe: the channel is forgotten and its promises reject. */
  fail(sub: Subscription<A>, attempt: A, error: Error): void {
    if (this.isCurrent(sub, attempt)) {
      this.forget(sub, error);
    }
  }

  /** The client closes: every subscription is forgotten, what waits rejects with `reason`. */
  close(reason: string): void {
    const error = new RealtimeError('unavailable', reason);
    this.all().forEach(sub => this.forget(sub, error));
  }

  /** Hand an event of a subscribed channel to its handlers (publications judged by position). */
  deliver(event: ChannelEvent): void {
    const { channel } = event;
    if (!this.subs.has(channel)) {
      return;
    }
    if (event.type === 'publication') {
      const verdict = this.positions.accept(channel, event.epoch, event.offset);
      if (verdict.gap) {
        this.emitGap(verdict.gap);
      }
      if (verdict.deliver) {
        this.emit(channel, event);
      }
    } else if (event.type === 'gap') {
      if (this.positions.gap({ event: 'gap', channel, epoch: event.epoch, offset: event.offset })) {
        this.emit(channel, event);
      }
    } else {
      this.emit(channel, event);
    }
  }

  private forget(sub: Subscription<A>, error: Error): void {
    if (this.subs.get(sub.channel) === sub) {
      this.subs.delete(sub.channel);
      this.positions.delete(sub.channel);
    }
    sub.attempt = null;
    sub.waiters.splice(0).forEach(w => w.reject(error));
  }

  private emitGap(gap: GapEvent): void {
    const { channel, epoch, offset } = gap;
    this.emit(channel, { type: 'gap', channel, epoch, offset });
  }

  private emit(channel: string, event: ChannelEvent): void {
    callEach(this.subs.get(channel)?.handlers ?? [], event, `a handler of ${channel}`);
  }
}
