/**
 * `LiveLog`: a scrolling feed of a channel's publications, newest first, at most
 * `max_items` of them (also the history shown when the view opens), each with its author
 * as the server verified it (`author.ts`). On a mirrored channel, output of a cell whose
 * `cell_start` is no longer in the history is preceded by one line naming the cell
 * (`In [N]`, read by its key) and saying its earlier output was dropped, with the cell's code.
 *
 * Public names: `LiveLogModel`, `LiveLogView`.
 */
import { authorElement } from './author.js';
import { CellStarts, DROPPED, cellKey } from '../watch/cells.js';
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
  private readonly starts = new CellStarts();

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
    const cell = this.starts.missing(publication.data);
    if (cell !== null) {
      this.dropped(cell);
    }
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

  /** One line for a cell met without its start; its name and code come by key. */
  private dropped(cell: string): void {
    const item = document.createElement('li');
    item.className = 'jp-realtime-dropped';
    const text = document.createElement('span');
    text.className = 'jp-realtime-log-text';
    text.textContent = `cell · ${DROPPED}`;
    item.append(text);
    this.list.prepend(item);
    this.trim();
    this.client
      .history(this.channel, { key: cellKey(cell), limit: 1 })
      .then(latest => {
        const header = latest.publications[0]?.data as
          | { type?: unknown; execution_count?: unknown; code?: unknown }
          | undefined;
        if (header?.type !== 'cell_start') {
          return;
        }
        const count = typeof header.execution_count === 'number' ? header.execution_count : ' ';
        text.textContent = `In [${count}] · ${DROPPED}`;
        if (typeof header.code === 'string' && header.code) {
          const code = document.createElement('pre');
          code.className = 'jp-realtime-log-code';
          code.textContent = header.code;
          item.append(code);
        }
      })
      .catch(() => undefined); // the line stays, without the cell's name
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
