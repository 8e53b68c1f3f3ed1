/**
 * `LiveLog`: a scrolling feed of a channel's publications, newest first, at most
 * `max_items` of them (also the history shown when the view opens), each with its author
 * as the server verified it (`author.ts`).
 *
 * Public names: `LiveLogModel`, `LiveLogView`.
 */
import { authorElement } from './author.js';
import { ChannelModel, ChannelView, type Publication, formatData } from './base.js';

export class LiveLogModel extends ChannelModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'LiveLogModel',
      _view_name: 'LiveLogView',
      max_items: 200,
      height: '240px'
    };
  }
}

export class LiveLogView extends ChannelView {
  private list!: HTMLOListElement;

  protected build(): void {
    this.el.classList.add('jp-realtime-log');
    const title = document.createElement('div');
    title.className = 'jp-realtime-title';
    title.textContent = this.model.get('channel');
    this.list = document.createElement('ol');
    this.list.className = 'jp-realtime-log-list';
    this.list.style.maxHeight = this.model.get('height');
    this.el.append(title, this.list);
    this.listenTo(this.model, 'change:height', () => {
      this.list.style.maxHeight = this.model.get('height');
    });
    this.listenTo(this.model, 'change:max_items', () => this.trim());
  }

  protected historyLimit(): number {
    return Math.min(1000, Math.max(0, this.model.get('max_items')));
  }

  protected onPublication(publication: Publication): void {
    const item = document.createElement('li');
    item.dataset.offset = String(publication.offset);
    const time = document.createElement('time');
    time.textContent = new Date(publication.ts * 1000).toLocaleTimeString();
    const text = document.createElement('span');
    text.className = 'jp-realtime-log-text';
    text.textContent = formatData(publication.data);
    item.append(time, authorElement(publication), text);
    item.title = `offset ${publication.offset}`;
    this.list.prepend(item);
    this.trim();
  }

  protected onGap(): void {
    const item = document.createElement('li');
    item.className = 'jp-realtime-gap';
    item.textContent = '… some publications were missed (no longer in the history)';
    this.list.prepend(item);
    this.trim();
  }

  private trim(): void {
    const max = Math.max(0, this.model.get('max_items'));
    while (this.list.childElementCount > max) {
      this.list.lastElementChild?.remove();
    }
  }
}
