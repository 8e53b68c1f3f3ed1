/**
 * `Chat`: a channel as a chat room: its backlog (`backlog` messages of history), who is
 * here (presence, with join/leave), and an input that publishes `{"text", "name"}`.
 * The author shown is the sender the server verified (`sender_name`, as in the presence
 * chips); a message's `name` is only a label beside it ("teacher (alice)"), as text.
 *
 * Public names: `ChatModel`, `ChatView`.
 */
import type { ClientInfo } from '../client/index.js';
import { authorElement } from './author.js';
import { ChannelModel, ChannelView, type Publication, formatData } from './base.js';

export class ChatModel extends ChannelModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'ChatModel',
      _view_name: 'ChatView',
      name: '',
      backlog: 100,
      height: '260px'
    };
  }
}

export class ChatView extends ChannelView {
  private messages!: HTMLDivElement;
  private people!: HTMLDivElement;
  private input!: HTMLInputElement;
  private readonly here = new Map<string, ClientInfo>();

  protected build(): void {
    this.el.classList.add('jp-realtime-chat');
    this.people = document.createElement('div');
    this.people.className = 'jp-realtime-chat-people';
    this.messages = document.createElement('div');
    this.messages.className = 'jp-realtime-chat-messages';
    this.messages.style.maxHeight = this.model.get('height');
    const form = document.createElement('form');
    form.className = 'jp-realtime-chat-form';
    this.input = document.createElement('input');
    this.input.type = 'text';
    this.input.placeholder = `Message #${this.model.get('channel')}`;
    const send = document.createElement('button');
    send.type = 'submit';
    send.textContent = 'Send';
    form.append(this.input, send);
    form.addEventListener('submit', event => {
      event.preventDefault();
      this.sendInput();
    });
    // Keep JupyterLab's notebook shortcuts away from the text being typed.
    this.input.addEventListener('keydown', event => event.stopPropagation());
    this.el.append(this.people, this.messages, form);
  }

  protected historyLimit(): number {
    return Math.min(1000, Math.max(0, this.model.get('backlog')));
  }

  protected subscribeOptions(): { presence?: boolean } {
    return { presence: true };
  }

  protected onReady(): void {
    this.client.presence(this.channel).then(
      ({ clients }) => {
        clients.forEach(info => this.here.set(info.client, info));
        this.showPeople();
      },
      () => undefined
    );
  }

  protected onPresence(event: { type: 'join' | 'leave'; client: ClientInfo }): void {
    if (event.type === 'join') {
      this.here.set(event.client.client, event.client);
    } else {
      this.here.delete(event.client.client);
    }
    this.showPeople();
  }

  protected onPublication(publication: Publication): void {
    const data = publication.data;
    let text: string;
    let label = '';
    if (data !== null && typeof data === 'object' && 'text' in data) {
      const record = data as Record<string, unknown>;
      text = formatData(record.text);
      if (typeof record.name === 'string') {
        label = record.name.slice(0, 100);
      }
    } else {
      text = formatData(data);
    }
    const row = document.createElement('div');
    row.className = 'jp-realtime-chat-message';
    row.dataset.offset = String(publication.offset);
    const who = authorElement(publication, label);
    const time = document.createElement('time');
    time.textContent = new Date(publication.ts * 1000).toLocaleTimeString();
    const body = document.createElement('span');
    body.textContent = text;
    row.append(time, who, body);
    const atBottom =
      this.messages.scrollHeight - this.messages.scrollTop - this.messages.clientHeight < 8;
    this.messages.appendChild(row);
    if (atBottom) {
      this.messages.scrollTop = this.messages.scrollHeight;
    }
  }

  protected onGap(): void {
    const row = document.createElement('div');
    row.className = 'jp-realtime-chat-message jp-realtime-gap';
    row.textContent = '… some messages were missed (no longer in the history)';
    this.messages.appendChild(row);
  }

  private sendInput(): void {
    const text = this.input.value.trim();
    if (!text) {
      return;
    }
    const name: string = this.model.get('name');
    this.input.value = '';
    this.client.publish(this.channel, name ? { text, name } : { text }).catch(err => {
      this.input.value = text;
      this.input.title = `Not sent: ${String(err)}`;
    });
  }

  private showPeople(): void {
    // One chip per user; several connections of one user count once.
    const users = new Map<string, ClientInfo>();
    this.here.forEach(info => users.set(info.user, info));
    const chips = [...users.values()].map(info => {
      const chip = document.createElement('span');
      chip.className = 'jp-realtime-chat-person';
      chip.textContent = info.name || info.user;
      if (info.color) {
        chip.style.borderColor = info.color;
      }
      return chip;
    });
    const label = document.createElement('span');
    label.textContent = `${users.size} here: `;
    this.people.replaceChildren(label, ...chips);
  }
}
