/**
 * The watch page (`GET realtime/watch/<channel>`): a live view of a mirrored channel,
 * without JupyterLab. The server's page gives the channel, its base URL and how much
 * history to show as `data-*` attributes of `<body>`; this module is its only script.
 *
 * Opening: the channel's newest position is read (`history` with `limit=1`), the last
 * `data-history` publications are read page by page from there, and the subscription
 * starts from the last one read: nothing is shown twice, nothing is missed in between.
 * After that the browser client resumes by itself with `since` whenever the connection
 * drops, and reports a loss it could not replay (shown as a marker).
 *
 * Output of a cell whose `cell_start` the history no longer holds gets one line saying its
 * earlier output was dropped, and the cell's header (`In [N]`, its code) read by its key.
 *
 * The page follows new output (`follow.ts`) and keeps the progress bars in its sticky header,
 * beside who publishes the output: the newest publication's verified `sender_name` (such as
 * "alice's kernel (analysis.ipynb)"), as the widgets show it.
 *
 * Credentials: the login cookie (with `_xsrf`), or a `?token=` in the page's URL.
 *
 * Public names: `startWatch`, `WatchOptions`.
 */
import { RealtimeClient } from '../client/client.js';
import type { ChannelEvent } from '../client/client.js';
import type { ConnectionState } from '../client/connection.js';
import { decodeBase64, morePages, type Position, type PublicationFrame } from '../client/protocol.js';
import { Follower } from './follow.js';
import { cellKey } from './cells.js';
import { OutputsView } from './outputs.js';

export interface WatchOptions {
  baseUrl: string;
  channel: string;
  /** Publications of history shown on opening (at most 1000 a page, paged). */
  history: number;
  token?: string;
}

function dataOf(frame: PublicationFrame): unknown {
  return frame.data_b64 !== undefined ? decodeBase64(frame.data_b64) : frame.data;
}

function stateLabel(state: ConnectionState): string {
  switch (state.state) {
    case 'connected':
      return `live · ${state.transport === 'websocket' ? 'ws' : state.transport}`;
    case 'disconnected':
      return `disconnected${state.reason ? ` (${state.reason})` : ''}`;
    default:
      return state.state;
  }
}

/** Read the last `options.history` publications of the channel, then follow it live. */
export async function startWatch(
  root: HTMLElement,
  options: WatchOptions
): Promise<{ client: RealtimeClient; view: OutputsView }> {
  const view = new OutputsView();
  const connection = root.querySelector<HTMLElement>('.rw-connection');
  const status = root.querySelector<HTMLElement>('.rw-status');
  root.querySelector('.rw-main')?.appendChild(view.el);
  // the bars stay in view in the sticky header while the outputs scroll under it
  root.querySelector('header')?.appendChild(view.bars.el);
  const follower = new Follower(undefined, root.querySelector<HTMLElement>('.rw-follow') ?? undefined);
  const client = new RealtimeClient();
  const source = root.querySelector<HTMLElement>('.rw-source');
  const showSource = (name: string | null | undefined, sender: string | null): void => {
    if (source && (name || sender)) {
      source.textContent = `from ${name || sender}`;
      source.title = sender ?? '';
    }
  };
  const showState = (state: ConnectionState): void => {
    if (connection) {
      connection.textContent = stateLabel(state);
      connection.dataset.state = state.state;
    }
  };
  client.on('state', showState);
  client.connect(options.baseUrl, options.token ?? '');
  const render = (): void => {
    if (status) {
      status.textContent = view.state;
    }
    document.title = `${view.state} · ${options.channel}`; // what a phone's tab list shows
    follower.changed();
  };
  const channel = options.channel;
  /** Mark a cell met without its start, and name it from its header kept by key. */
  const checkStart = (data: unknown): Promise<void> | null => {
    const cell = view.missingStart(data);
    if (cell === null) {
      return null;
    }
    view.dropped(cell);
    return client
      .history(channel, { key: cellKey(cell), limit: 1 })
      .then(latest => {
        const header = latest.publications[0];
        if (header) {
          view.named(cell, dataOf(header));
          render();
        }
      })
      .catch(() => undefined); // the line stays, without the cell's name
  };
  try {
    const newest = await client.history(channel, { limit: 1 });
    let since: Position | undefined;
    if (newest.epoch && newest.offset > 0) {
      since = { epoch: newest.epoch, offset: Math.max(0, newest.offset - options.history) };
      // every bar's latest state is kept by key: those older than the history come first
      const bars = await client.history(channel, { key_prefix: 'progress:', limit: 100 });
      for (const frame of bars.publications) {
        if (frame.epoch === since.epoch && frame.offset <= since.offset) {
          view.apply(dataOf(frame));
        }
      }
      let wanted = options.history;
      while (wanted > 0) {
        const limit = Math.min(1000, wanted);
        const page = await client.history(channel, { since, limit });
        for (const frame of page.publications) {
          const data = dataOf(frame);
          await checkStart(data);
          view.apply(data);
          showSource(frame.sender_name, frame.sender);
          since = { epoch: frame.epoch, offset: frame.offset };
        }
        wanted -= page.publications.length;
        if (!morePages(page, limit)) {
          break;
        }
      }
      render();
    }
    const handler = (event: ChannelEvent): void => {
      if (event.type === 'publication') {
        void checkStart(event.data);
        view.apply(event.data);
        showSource(event.senderName, event.sender);
      } else if (event.type === 'gap') {
        view.gap();
      }
      render();
    };
    await client.subscribe(channel, handler, since ? { since } : {});
    render();
  } catch (err) {
    if (status) {
      status.textContent = `cannot watch ${channel}: ${String(err)}`;
      status.dataset.state = 'error';
    }
  }
  return { client, view };
}

/** Started by the page's `<script type="module">`. */
function main(): void {
  const body = document.body;
  const token = new URLSearchParams(window.location.search).get('token') ?? '';
  const history = Number(body.dataset.history);
  const options: WatchOptions = {
    baseUrl: body.dataset.baseUrl ?? '/',
    channel: body.dataset.channel ?? '',
    history: Number.isInteger(history) && history >= 0 ? history : 1000,
    token
  };
  void startWatch(body, options).then(watch => {
    (window as unknown as Record<string, unknown>).realtimeWatch = watch;
  });
}

if (typeof document !== 'undefined' && document.body?.dataset.channel !== undefined) {
  main();
}
