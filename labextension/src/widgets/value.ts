/**
 * `LiveValue`: the latest value of a channel, or of one key: the data of the latest
 * publication published with that key (kept by the server beyond the history), or that
 * key of an unkeyed publication's JSON object. Shown at once when the view opens (the
 * key's latest, then the newer history) and updated live. With `show_latency`, the
 * time from the server accepting a publication to it being shown is displayed too (it
 * compares the server's clock with the browser's: meaningful when both are one machine).
 *
 * Public names: `LiveValueModel`, `LiveValueView`.
 */
import { ChannelModel, ChannelView, type Publication, formatData } from './base.js';
import { pick } from './logic.js';

export class LiveValueModel extends ChannelModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'LiveValueModel',
      _view_name: 'LiveValueView',
      key: null,
      label: '',
      show_latency: false
    };
  }
}

export class LiveValueView extends ChannelView {
  private label!: HTMLSpanElement;
  private value!: HTMLSpanElement;
  private latency!: HTMLSpanElement;

  protected build(): void {
    this.el.classList.add('jp-realtime-value');
    this.label = document.createElement('span');
    this.label.className = 'jp-realtime-value-label';
    this.value = document.createElement('span');
    this.value.className = 'jp-realtime-value-text';
    this.value.textContent = '—';
    this.latency = document.createElement('span');
    this.latency.className = 'jp-realtime-value-latency';
    this.el.append(this.label, this.value, this.latency);
    this.updateLabel();
    this.listenTo(this.model, 'change:label change:key', () => this.updateLabel());
  }

  protected historyLimit(): number {
    // Without a key the newest publication is the value; with one, the newest that has it.
    return this.model.get('key') ? 100 : 1;
  }

  protected latestKey(): string | null {
    return this.model.get('key') || null;
  }

  protected onPublication(publication: Publication, live: boolean): void {
    const key: string | null = this.model.get('key');
    let picked: { found: boolean; value: unknown };
    if (publication.key !== undefined) {
      // a keyed publication is the value of its key as a whole, and of no other key
      picked = { found: !key || publication.key === key, value: publication.data };
    } else {
      picked = pick(publication.data, key);
    }
    const { found, value } = picked;
    if (!found) {
      return;
    }
    this.value.textContent = formatData(value);
    this.value.title = `offset ${publication.offset}, ${new Date(publication.ts * 1000).toLocaleTimeString()}`;
    if (this.model.get('show_latency')) {
      this.latency.textContent = live
        ? `${Math.max(0, performance.timeOrigin + performance.now() - publication.ts * 1000).toFixed(1)} ms`
        : '';
    }
  }

  private updateLabel(): void {
    const label = this.model.get('label') || this.model.get('key') || this.model.get('channel');
    this.label.textContent = label;
  }
}
