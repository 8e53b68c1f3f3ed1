/**
 * `ChannelLink`: binds one trait of another widget to a channel, both ways, in the
 * browser (no view; the model does the work as soon as the page has it, and keeps working
 * while the kernel is busy).
 *
 * A change of the trait publishes `{"value": V, "source": ID}`, `ID` being this model
 * instance's random id; a publication from elsewhere sets the trait (and syncs it to the
 * kernel). No feedback loop: a model ignores its own publications (same `source`), does
 * not publish a change it is applying itself, and does not apply or publish a value equal
 * to the current one. When it starts it applies the channel's latest value, if any.
 *
 * Public names: `ChannelLinkModel`.
 */
import { WidgetModel, unpack_models } from '@jupyter-widgets/base';
import type * as Backbone from 'backbone';

import type { ChannelEvent, RealtimeClientLike } from '../client/index.js';
import { clientFor } from '../shared.js';
import { MODULE_NAME, MODULE_VERSION } from './base.js';
import { LinkState } from './logic.js';

export class ChannelLinkModel extends WidgetModel {
  static serializers = {
    ...WidgetModel.serializers,
    target: { deserialize: unpack_models }
  };

  private link = new LinkState();
  private client: RealtimeClientLike | null = null;
  private target: WidgetModel | null = null;
  private lastSeen: unknown = undefined;
  private readonly handler = (event: ChannelEvent): void => this.onEvent(event);

  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'ChannelLinkModel',
      _model_module: MODULE_NAME,
      _model_module_version: MODULE_VERSION,
      _view_name: null,
      _view_module: null,
      target: null,
      trait: 'value',
      channel: '',
      transports: []
    };
  }

  initialize(attributes: Backbone.ObjectHash, options: any): void {
    super.initialize(attributes, options);
    // The manager deserialized `target` before building this model; start once built.
    queueMicrotask(() => this.start());
    this.on('destroy', () => this.stop());
  }

  private start(): void {
    const target = this.get('target') as WidgetModel | null;
    const channel: string = this.get('channel');
    if (!target || !channel) {
      return;
    }
    this.target = target;
    this.client = clientFor(this.get('transports') ?? []);
    const trait: string = this.get('trait');
    this.lastSeen = target.get(trait);
    target.on(`change:${trait}`, this.onChange, this);
    this.client.subscribe(channel, this.handler).then(
      async () => {
        const { publications } = await this.client!.history(channel, { limit: 1 });
        const latest = publications[publications.length - 1];
        if (latest && latest.data !== undefined) {
          this.apply(latest.data);
        }
      },
      err => console.error(`jupyter-realtime: ChannelLink cannot subscribe to ${channel}`, err)
    );
  }

  private stop(): void {
    this.target?.off(null, this.onChange, this);
    void this.client?.unsubscribe(this.get('channel'), this.handler);
  }

  private onEvent(event: ChannelEvent): void {
    if (event.type === 'publication') {
      this.apply(event.data);
    }
  }

  private apply(data: unknown): void {
    const target = this.target;
    if (!target) {
      return;
    }
    const trait: string = this.get('trait');
    const incoming = this.link.incoming(data, target.get(trait));
    if (incoming === undefined) {
      return;
    }
    this.lastSeen = incoming.value;
    this.link.applying = true;
    try {
      target.set(trait, incoming.value);
      target.save_changes();
    } finally {
      this.link.applying = false;
    }
  }

  private onChange(): void {
    if (!this.target || !this.client) {
      return;
    }
    const value = this.target.get(this.get('trait'));
    const data = this.link.outgoing(value, this.lastSeen);
    if (data === undefined) {
      return;
    }
    this.lastSeen = value;
    this.client.publish(this.get('channel'), data).catch(err => {
      console.error('jupyter-realtime: ChannelLink cannot publish', err);
    });
  }
}
