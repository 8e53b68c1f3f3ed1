/**
 * The connection-state badge of every realtime view: a small pill in the view's top right
 * corner (`connecting`, `live · ws`, `reconnecting`, `offline`, or `error`), its tooltip
 * naming the channel and saying more. Styled by `.jp-realtime-badge[data-state]`. When the
 * page has no realtime server (`../server.ts`: standalone Voilà without a configured URL),
 * it says so in full (`no realtime server at …`, state `missing`) instead.
 *
 * Public name: `StateBadge`.
 */
import type { ConnectionState, RealtimeClientLike } from '../client/index.js';
import { checkServer } from '../server.js';
import { describeState } from '../states.js';

export class StateBadge {
  readonly node: HTMLSpanElement;
  private readonly stop: () => void;
  private failed = false;

  /** Follow `client`'s state for the view of `channel`. */
  constructor(client: RealtimeClientLike, private readonly channel: string) {
    this.node = document.createElement('span');
    this.node.className = 'jp-realtime-badge';
    this.show(client.state);
    this.stop = client.on('state', state => this.show(state));
    void checkServer().then(problem => {
      if (problem !== null) {
        this.missing(problem);
      }
    });
  }

  /** The page has no realtime server: say so in words (this outranks every other state). */
  private missing(problem: string): void {
    this.failed = true;
    this.node.dataset.state = 'missing';
    this.node.classList.add('jp-realtime-missing');
    this.node.textContent = problem;
    this.node.title = `${this.channel}: ${problem}`;
  }

  /** Show that the view failed (it stays so: the connection's state no longer shows). */
  error(message: string): void {
    if (this.node.dataset.state === 'missing') {
      return;
    }
    this.failed = true;
    this.node.dataset.state = 'error';
    this.node.textContent = 'error';
    this.node.title = `${this.channel}: ${message}`;
  }

  dispose(): void {
    this.stop();
  }

  private show(state: ConnectionState): void {
    if (this.failed) {
      return;
    }
    const { label, title } = describeState(state);
    this.node.dataset.state = state.state;
    this.node.textContent = label;
    this.node.title = `${this.channel}: ${title}`;
  }
}
