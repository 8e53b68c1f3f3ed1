/**
 * What every channel widget view shares: the model's common traits, a connection-state
 * badge (`badge.ts`), and a subscription that first shows the channel's recent history and then goes
 * live, without losing or repeating a publication in between.
 *
 * The view subscribes through the page's browser client (`../shared.ts`), never through
 * the kernel, so it keeps updating while the kernel is busy. Publication data is always
 * rendered as text (`textContent`).
 *
 * Public names: `MODULE_NAME`, `MODULE_VERSION`, `ChannelModel`, `ChannelView`,
 * `Publication`, `formatData`.
 */
import { DOMWidgetModel, DOMWidgetView } from '@jupyter-widgets/base';
import type * as Backbone from 'backbone';

import type { ChannelEvent, PublicationFrame, RealtimeClientLike } from '../client/index.js';
import { decodeBase64 } from '../client/protocol.js';
import type { Lease } from '../pool.js';
import { acquireClient } from '../shared.js';
import { StateBadge } from './badge.js';

export const MODULE_NAME = 'jupyter-realtime';
export const MODULE_VERSION = '0.1.0';

export type Publication = Extract<ChannelEvent, { type: 'publication' }>;

export class ChannelModel extends DOMWidgetModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_module: MODULE_NAME,
      _model_module_version: MODULE_VERSION,
      _view_module: MODULE_NAME,
      _view_module_version: MODULE_VERSION,
      channel: '',
      transports: []
    };
  }
}

/** JSON data as one line of text; strings as they are. */
export function formatData(data: unknown): string {
  if (typeof data === 'string') {
    return data;
  }
  if (data instanceof Uint8Array) {
    return `<${data.byteLength} bytes>`;
  }
  try {
    return JSON.stringify(data) ?? String(data);
  } catch {
    return String(data);
  }
}

function fromFrame(frame: PublicationFrame): Publication {
  const data = frame.data_b64 !== undefined ? decodeBase64(frame.data_b64) : frame.data;
  const { channel, epoch, offset, ts, sender, key } = frame;
  return { type: 'publication', channel, epoch, offset, data, ts, sender, senderName: frame.sender_name ?? null, key };
}

/**
 * A view of one channel. Subclasses build their DOM in `build()`, say how much history
 * they want (`historyLimit`, 0 for none), and get `onPublication` for each publication
 * (`live` is false for those from history), `onGap`, and `onPresence` for join/leave.
 */
export abstract class ChannelView extends DOMWidgetView {
  protected client!: RealtimeClientLike;
  protected channel = '';
  protected badge!: StateBadge;
  private lease: Lease | null = null;
  /** The last publication shown: replayed or live ones at or before it are skipped. */
  private last: { epoch: string; offset: number } | null = null;
  private buffer: ChannelEvent[] | null = [];
  private readonly handler = (event: ChannelEvent): void => this.onEvent(event);

  render(): void {
    this.el.classList.add('jp-realtime-widget');
    this.channel = this.model.get('channel');
    this.lease = acquireClient(this.model.get('transports') ?? []);
    this.client = this.lease.client;
    this.badge = new StateBadge(this.client, this.channel);
    this.build();
    this.el.appendChild(this.badge.node);
    void this.start();
  }

  remove(): void {
    this.badge?.dispose();
    if (this.lease) {
      const lease = this.lease;
      this.lease = null;
      const release = (): void => lease.release();
      this.client.unsubscribe(this.channel, this.handler).then(release, release);
    }
    super.remove();
  }

  protected abstract build(): void;
  protected abstract onPublication(publication: Publication, live: boolean): void;
  protected historyLimit(): number {
    return 0;
  }
  /** A publication key whose latest publication is shown first, before the history. */
  protected latestKey(): string | null {
    return null;
  }
  /** A key prefix: the latest publication of each key with it is shown before the history. */
  protected latestKeyPrefix(): string | null {
    return null;
  }
  protected subscribeOptions(): { presence?: boolean } {
    return {};
  }
  protected onGap(): void {
    // most views have nothing to do: what comes next is shown as it arrives
  }
  protected onPresence(_event: Extract<ChannelEvent, { type: 'join' | 'leave' }>): void {
    // only the chat shows presence
  }
  protected onReady(): void {
    // called once history is shown and the view is live
  }

  private async start(): Promise<void> {
    try {
      // Subscribe first and hold what arrives, then read the history: whatever is
      // published in between is in one or the other, and `last` drops the overlap.
      await this.client.subscribe(this.channel, this.handler, this.subscribeOptions());
      // The latest of a key (or of each key with a prefix), however old, then the history;
      // a keyed publication the history holds is shown in its place there.
      const key = this.latestKey();
      const prefix = this.latestKeyPrefix();
      let keyed: PublicationFrame[] = [];
      if (key) {
        keyed = (await this.client.history(this.channel, { key, limit: 1 })).publications;
      } else if (prefix) {
        const options = { key_prefix: prefix, limit: 100 };
        keyed = (await this.client.history(this.channel, options)).publications;
      }
      const limit = this.historyLimit();
      const history = limit > 0 ? (await this.client.history(this.channel, { limit })).publications : [];
      const first = history[0];
      for (const frame of keyed) {
        if (first === undefined || frame.epoch !== first.epoch || frame.offset < first.offset) {
          this.show(fromFrame(frame), false);
        }
      }
      for (const frame of history) {
        this.show(fromFrame(frame), false);
      }
    } catch (err) {
      this.badge.error(`cannot subscribe: ${String(err)}`);
    }
    const held = this.buffer ?? [];
    this.buffer = null;
    held.forEach(event => this.dispatch(event));
    this.onReady();
  }

  private onEvent(event: ChannelEvent): void {
    if (this.buffer !== null) {
      this.buffer.push(event);
    } else {
      this.dispatch(event);
    }
  }

  private dispatch(event: ChannelEvent): void {
    if (event.type === 'publication') {
      this.show(event, true);
    } else if (event.type === 'gap') {
      this.onGap();
    } else {
      this.onPresence(event);
    }
  }

  private show(publication: Publication, live: boolean): void {
    const last = this.last;
    if (last !== null && last.epoch === publication.epoch && publication.offset <= last.offset) {
      return;
    }
    this.last = { epoch: publication.epoch, offset: publication.offset };
    try {
      this.onPublication(publication, live);
    } catch (err) {
      console.error(`jupyter-realtime: showing a publication of ${this.channel} failed`, err);
    }
  }
}
