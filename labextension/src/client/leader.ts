/**
 * The leader tab's side of tab sharing: it owns the one real connection (a client with
 * the `RealtimeClient` interface) and runs the requests of every tab of the origin.
 *
 * - Channels are counted across tabs (`FollowerTable`): the connection subscribes when
 *   the first tab follows a channel and unsubscribes when the last one leaves.
 * - Every event of a channel (publications, gaps, presence) and every state change goes
 *   to all tabs; each tab keeps what concerns its own subscriptions.
 * - A tab that subscribes to a channel the connection follows already gets the channel's
 *   position as its subscribe result; a tab that resumes from an earlier position of the
 *   same epoch also gets the publications in between, read from the channel's history,
 *   with its reply. The tab drops what it saw already, so a leader change loses nothing
 *   and repeats nothing.
 *
 * Public names: `Leader`, `SharableClient`, `LeaderHooks`.
 */
import type { ChannelEvent, ChannelHandler, SubscribeOptions } from './client.js';
import type { ConnectionState } from './connection.js';
import { RealtimeError } from './errors.js';
import {
  type HistoryResult,
  type Position,
  type PresenceResult,
  type PublishResult,
  type SubscribeResult,
  decodeBase64,
  morePages
} from './protocol.js';
import { FollowerTable, needsCatchUp, type TabMessage, type TabRequest } from './tabs.js';

/** What the leader needs of the connection: the public interface of `RealtimeClient`. */
export interface SharableClient {
  readonly state: ConnectionState;
  on(event: 'state', listener: (state: ConnectionState) => void): () => void;
  subscribe(channel: string, handler: ChannelHandler, options?: SubscribeOptions): Promise<SubscribeResult>;
  unsubscribe(channel: string, handler?: ChannelHandler): Promise<void>;
  publish(channel: string, data: unknown, options?: { key?: string }): Promise<PublishResult>;
  history(
    channel: string,
    options?: { since?: Position; limit?: number; key?: string; key_prefix?: string }
  ): Promise<HistoryResult>;
  presence(channel: string): Promise<PresenceResult>;
  close(): void;
}

export interface LeaderHooks {
  /** Send a message to every tab, this one included. */
  send(message: TabMessage): void;
  /** Call `gone` once the tab `tab` is closed (a tab that is never seen again leaks nothing else). */
  watchTab?(tab: string, gone: () => void): void;
}

interface SharedChannel {
  handler: ChannelHandler;
  /** Settles when the connection confirmed the subscription. */
  ready: Promise<SubscribeResult>;
  /** The last position the connection delivered in the channel. */
  pos?: Position;
}

type Publication = Extract<ChannelEvent, { type: 'publication' }>;

const HISTORY_PAGE = 1000;
const HISTORY_MAX = 20000;

export class Leader {
  readonly table = new FollowerTable();
  private readonly channels = new Map<string, SharedChannel>();
  private readonly seen = new Set<string>();
  private readonly stopListening: () => void;

  constructor(
    readonly id: string,
    private readonly client: SharableClient,
    private readonly hooks: LeaderHooks
  ) {
    this.stopListening = client.on('state', state => this.hooks.send({ type: 'state', from: this.id, state }));
  }

  /** Tell every tab who leads (on taking the lock, and when a new tab says hello). */
  announce(): void {
    this.hooks.send({ type: 'leader', from: this.id, state: this.client.state });
  }

  hello(tab: string): void {
    this.see(tab);
    this.announce();
  }

  /** Run a tab's request and answer it. Requests addressed to another leader are ignored. */
  handle(request: TabRequest): void {
    if (request.to !== this.id) {
      return;
    }
    this.see(request.tab);
    let work: Promise<{ result: unknown; replay?: Publication[] }>;
    switch (request.op) {
      case 'subscribe':
        work = this.subscribe(request);
        break;
      case 'unsubscribe':
        work = this.unsubscribe(request.channel, request.tab).then(() => ({ result: {} }));
        break;
      case 'publish':
        work = this.client
          .publish(request.channel, request.data, request.key !== undefined ? { key: request.key } : {})
          .then(result => ({ result }));
        break;
      case 'history':
        work = this.client
          .history(request.channel, {
            since: request.since,
            limit: request.limit,
            key: request.key,
            key_prefix: request.key_prefix
          })
          .then(result => ({ result }));
        break;
      case 'presence':
        work = this.client.presence(request.channel).then(result => ({ result }));
        break;
      default:
        work = Promise.reject(new RealtimeError('bad_request', 'unknown request'));
    }
    const reply = { type: 'reply' as const, from: this.id, tab: request.tab, id: request.id };
    work.then(
      ({ result, replay }) => this.hooks.send({ ...reply, result, ...(replay ? { replay } : {}) }),
      (error: unknown) => {
        const { code, message } =
          error instanceof RealtimeError ? error : new RealtimeError('internal', String(error));
        this.hooks.send({ ...reply, error: { code, message } });
      }
    );
  }

  /** A tab went away: drop its subscriptions. */
  dropTab(tab: string): void {
    this.seen.delete(tab);
    for (const channel of this.table.removeTab(tab)) {
      this.release(channel);
    }
  }

  /** Stop leading: the connection closes (commands in flight reject with `unavailable`). */
  close(): void {
    this.stopListening();
    this.channels.clear();
    this.client.close();
  }

  private see(tab: string): void {
    if (tab === this.id || this.seen.has(tab)) {
      return;
    }
    this.seen.add(tab);
    this.hooks.watchTab?.(tab, () => this.dropTab(tab));
  }

  private async subscribe(
    request: TabRequest & { op: 'subscribe' }
  ): Promise<{ result: SubscribeResult; replay?: Publication[] }> {
    const { channel, tab, since } = request;
    this.table.add(channel, tab, !!request.presence);
    let shared = this.channels.get(channel);
    if (shared === undefined) {
      // The first follower: the connection subscribes from that tab's position, so the
      // server replays what it missed before the reply (the tab buffers it meanwhile).
      const created = {} as SharedChannel;
      created.handler = event => this.onEvent(channel, created, event);
      created.ready = this.client.subscribe(channel, created.handler, {
        since,
        presence: !!request.presence
      });
      shared = created;
      this.channels.set(channel, shared);
      try {
        const result = await shared.ready;
        created.pos ??= { epoch: result.epoch, offset: result.offset };
        return { result };
      } catch (error) {
        if (this.channels.get(channel) === created) {
          this.channels.delete(channel);
          for (const follower of this.table.followers(channel)) {
            this.table.remove(channel, follower);
          }
        }
        throw error;
      }
    }
    await shared.ready;
    const current = shared.pos;
    if (current === undefined) {
      throw new RealtimeError('unavailable', 'the channel was left meanwhile');
    }
    const plan = needsCatchUp(since, current);
    if (plan !== 'history' || since === undefined) {
      return { result: { ...current, recovered: plan === 'none' } };
    }
    const replay = await this.catchUp(channel, since, current);
    const first = replay[0];
    const last = replay[replay.length - 1];
    // recovered: the replay starts right after `since` and reaches where the connection was
    const recovered =
      first !== undefined &&
      first.epoch === since.epoch &&
      first.offset === since.offset + 1 &&
      last.epoch === current.epoch &&
      last.offset >= current.offset;
    const pos = shared.pos ?? current;
    return { result: { epoch: pos.epoch, offset: pos.offset, recovered }, replay };
  }

  /**
   * The publications after `since` up to `until` at least, from the channel's history, in
   * pages of at most `HISTORY_PAGE` (a page cut short by bytes says `more`), each asked
   * from the last publication of the one before; at most `HISTORY_MAX` publications.
   */
  private async catchUp(channel: string, since: Position, until: Position): Promise<Publication[]> {
    const replay: Publication[] = [];
    let from = since;
    while (replay.length < HISTORY_MAX) {
      const page = await this.client.history(channel, { since: from, limit: HISTORY_PAGE });
      for (const p of page.publications) {
        const data = p.data_b64 !== undefined ? decodeBase64(p.data_b64) : p.data;
        const { epoch, offset, ts, sender, key } = p;
        const senderName = p.sender_name ?? null;
        replay.push({ type: 'publication', channel, epoch, offset, data, ts, sender, senderName, key });
      }
      const last = page.publications[page.publications.length - 1];
      if (!morePages(page, HISTORY_PAGE) || last.epoch !== until.epoch || last.offset >= until.offset) {
        break;
      }
      from = { epoch: last.epoch, offset: last.offset };
    }
    return replay;
  }

  private async unsubscribe(channel: string, tab: string): Promise<void> {
    if (this.table.remove(channel, tab)) {
      await this.release(channel);
    }
  }

  private async release(channel: string): Promise<void> {
    const shared = this.channels.get(channel);
    if (shared !== undefined) {
      this.channels.delete(channel);
      await this.client.unsubscribe(channel, shared.handler);
    }
  }

  private onEvent(channel: string, shared: SharedChannel, event: ChannelEvent): void {
    if (this.channels.get(channel) !== shared) {
      return;
    }
    if (event.type === 'publication' || event.type === 'gap') {
      shared.pos = { epoch: event.epoch, offset: event.offset };
    }
    this.hooks.send({ type: 'event', from: this.id, event });
  }
}
