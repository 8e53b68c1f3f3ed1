/**
 * `LiveProgress`: the bars that `jupyter_realtime.progress()` publishes to a channel, live,
 * with n/total, rate and ETA, and their final state once done. A view opened late shows
 * the current state at once: it reads the channel's recent history first (`history`
 * publications, of which only progress messages count).
 *
 * Public names: `LiveProgressModel`, `LiveProgressView`.
 */
import { ProgressBars, isProgress } from '../watch/progress.js';
import { ChannelModel, ChannelView, type Publication } from './base.js';

export class LiveProgressModel extends ChannelModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'LiveProgressModel',
      _view_name: 'LiveProgressView',
      bar: '',
      max_bars: 5,
      history: 200
    };
  }
}

export class LiveProgressView extends ChannelView {
  private bars!: ProgressBars;
  private empty!: HTMLDivElement;

  protected build(): void {
    this.el.classList.add('jp-realtime-liveprogress');
    const title = document.createElement('div');
    title.className = 'jp-realtime-title';
    title.textContent = this.model.get('channel');
    this.empty = document.createElement('div');
    this.empty.className = 'jp-realtime-progress-empty';
    this.empty.style.opacity = '0.6';
    this.empty.textContent = 'waiting for progress…';
    this.bars = new ProgressBars(Math.max(1, this.model.get('max_bars')));
    this.el.append(title, this.empty, this.bars.el);
  }

  protected historyLimit(): number {
    return Math.min(1000, Math.max(1, this.model.get('history')));
  }

  /** One bar: its latest state is kept by the key `progress:<bar>`, however old. */
  protected latestKey(): string | null {
    const only = this.model.get('bar');
    return only ? `progress:${only}` : null;
  }

  /** Every bar: the latest state of each is kept by its key, however old. */
  protected latestKeyPrefix(): string | null {
    return this.model.get('bar') ? null : 'progress:';
  }

  protected onPublication(publication: Publication): void {
    const data = publication.data;
    if (!isProgress(data)) {
      return;
    }
    const only = this.model.get('bar');
    if (only && String(data.bar) !== only) {
      return;
    }
    this.bars.update(data);
    this.empty.hidden = this.bars.size > 0;
  }
}
