/**
 * `ChannelLink`: binds one trait of another widget to a channel, both ways, in the
 * browser. The model does the work as soon as the page has it (displayed or not), and keeps
 * working while the kernel is busy; its view shows the linked widget with the badge of
 * the link's connection.
 *
 * A change of the trait publishes `{"value": V, "source": ID}`, `ID` being this model
 * instance's random id; a publication from elsewhere sets the trait (and syncs it to the
 * kernel). No feedback loop: a model ignores its own publications (same `source`), does
 * not publish a change it is applying itself, and does not apply or publish a value equal
 * to the current one. When it starts it applies the channel's latest value, if any.
 *
 * Public names: `ChannelLinkModel`, `ChannelLinkView`.
 */
import {
  DOMWidgetModel,
  DOMWidgetView,
  unpack_models,
  type WidgetModel,
  type WidgetView
} from '@jupyter-widgets/base';
import { Widget } from '@lumino/widgets';
import type * as Backbone from 'backbone';

import type { ChannelEvent, RealtimeClientLike } from '../client/index.js';
import type { Lease } from '../pool.js';
import { acquireClient } from '../shared.js';
import { StateBadge } from './badge.js';
import { MODULE_NAME, MODULE_VERSION } from './base.js';
import { LinkState } from './logic.js';

/** Why the link does not work (it could not subscribe), for its views' badges. */
const FAILED = 'realtime:failed';

export class ChannelLinkModel extends DOMWidgetModel {
  static serializers = {
    ...DOMWidgetModel.serializers,
    target: { deserialize: unpack_models }
  };

  private link = new LinkState();
  private client: RealtimeClientLike | null = null;
  private lease: Lease | null = null;
  /** Set once subscribing failed: the message its views show. */
  failure: string | null = null;
  private target: WidgetModel | null = null;
  private lastSeen: unknown = undefined;
  private readonly handler = (event: ChannelEvent): void => this.onEvent(event);

  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'ChannelLinkModel',
      _model_module: MODULE_NAME,
      _model_module_version: MODULE_VERSION,
      _view_name: 'ChannelLinkView',
      _view_module: MODULE_NAME,
      _view_module_version: MODULE_VERSION,
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
    this.stopWithNotebook();
    this.lease = acquireClient(this.get('transports') ?? []);
    this.client = this.lease.client;
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
      err => {
        console.error(`jupyter-realtime: ChannelLink cannot subscribe to ${channel}`, err);
        this.failure = `cannot subscribe: ${String(err)}`;
        this.trigger(FAILED, this.failure);
      }
    );
  }

  /**
   * A link works while the page has its notebook open. Closing a notebook disposes its
   * widget manager (JupyterLab's, Notebook 7's) but destroys none of its models, and a
   * link need not be displayed (no view's removal says so): follow the manager's document.
   */
  private stopWithNotebook(): void {
    type Disposed = { connect(slot: () => void): unknown };
    const manager = this.widget_manager as unknown as { context?: { disposed?: Disposed } };
    manager.context?.disposed?.connect(() => this.stop());
  }

  /** The client the link uses, once it started. */
  get linkClient(): RealtimeClientLike | null {
    return this.client;
  }

  private stop(): void {
    this.target?.off(null, this.onChange, this);
    this.target = null; // a reply still on its way applies nothing
    const lease = this.lease;
    this.lease = null;
    if (lease && this.client) {
      const release = (): void => lease.release();
      this.client.unsubscribe(this.get('channel'), this.handler).then(release, release);
    }
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

/**
 * The link displayed: the linked widget's own view, and the badge of the link's
 * connection in the top right corner (so the README's one-line cell shows a live slider).
 */
export class ChannelLinkView extends DOMWidgetView {
  private badge: StateBadge | null = null;
  private child: WidgetView | null = null;
  private badgeLease: Lease | null = null;

  render(): void {
    this.el.classList.add('jp-realtime-widget', 'jp-realtime-link');
    const model = this.model as ChannelLinkModel;
    const channel: string = model.get('channel');
    this.el.dataset.channel = channel;
    // the model's client when it has started, else the same one leased for the badge
    let client = model.linkClient;
    if (client === null) {
      this.badgeLease = acquireClient(model.get('transports') ?? []);
      client = this.badgeLease.client;
    }
    this.badge = new StateBadge(client, channel);
    if (model.failure !== null) {
      this.badge.error(model.failure);
    }
    this.listenTo(model, FAILED, (message: string) => this.badge?.error(message));
    this.el.appendChild(this.badge.node);
    void this.showTarget();
  }

  private async showTarget(): Promise<void> {
    const target = this.model.get('target') as WidgetModel | null;
    if (!target) {
      return;
    }
    const view = (await this.create_child_view(target)) as WidgetView & { luminoWidget?: Widget };
    this.child = view;
    await this.displayed;
    const host = this.badge?.node ?? null;
    if (view.luminoWidget) {
      Widget.attach(view.luminoWidget, this.el, host);
    } else {
      this.el.insertBefore(view.el, host);
    }
  }

  remove(): void {
    this.badge?.dispose();
    this.child?.remove();
    this.badgeLease?.release();
    this.badgeLease = null;
    super.remove();
  }
}
