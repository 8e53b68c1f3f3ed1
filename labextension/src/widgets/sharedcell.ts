/**
 * `SharedCell`: an editor bound to a shared Yjs text, read-only for a user who may not
 * publish on the channel, and the kernel's `run()` output under it. Like every realtime
 * view, it shows its connection's state in a badge (`badge.ts`). When an edit is refused
 * (`rate_limited`, `too_large`), the document is reloaded from the server's
 * (`SharedText.resync`): a new editor is bound to the new one and the status line says why,
 * for `REFUSAL_SHOWN` ms.
 *
 * The editor is JupyterLab's CodeMirror 6 (`sharedcell-editor.ts`, remote cursors and
 * all) where the page shares JupyterLab's CodeMirror singletons, and a plain textarea
 * bound to the same text (`sharedcell-textarea.ts`) where it does not (Voilà). The
 * CodeMirror module is loaded with `import()`, never imported here: its shared modules
 * are resolved when it loads, so on a page without them only that import fails, not the
 * extension's entry (which would leave every widget model of the page unregistered).
 * Bundling a CodeMirror of our own instead would not do: in JupyterLab two copies of
 * `@codemirror/state` break its extensions, and Voilà's `@jupyterlab/codemirror` (theme,
 * languages) is built on a CodeMirror it does not share.
 *
 * Public names: `SharedCellModel`, `SharedCellView`.
 */
import {
  DOMWidgetView,
  unpack_models,
  type WidgetModel,
  type WidgetView
} from '@jupyter-widgets/base';
import { Widget } from '@lumino/widgets';

import type { Lease } from '../pool.js';
import { acquireClient } from '../shared.js';
import { StateBadge } from './badge.js';
import { ChannelModel } from './base.js';
import { SharedText } from './sharedcell-sync.js';
import { type SharedEditor, type SharedEditorOptions, TextareaEditor } from './sharedcell-textarea.js';

/** How long the status line shows why an edit was refused. */
const REFUSAL_SHOWN = 15000;

/** JupyterLab's CodeMirror editor, or null where the page does not share CodeMirror. */
async function codeMirror(): Promise<typeof import('./sharedcell-editor.js') | null> {
  try {
    return await import('./sharedcell-editor.js');
  } catch (err) {
    console.debug('jupyter-realtime: no shared CodeMirror on this page, using a textarea', err);
    return null;
  }
}

export class SharedCellModel extends ChannelModel {
  static serializers = {
    ...ChannelModel.serializers,
    output: { deserialize: unpack_models }
  };

  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'SharedCellModel',
      _view_name: 'SharedCellView',
      language: 'python',
      height: '',
      output: null
    };
  }
}

export class SharedCellView extends DOMWidgetView {
  private shared: SharedText | null = null;
  private editor: SharedEditor | null = null;
  private host: HTMLElement | null = null;
  private cm: typeof import('./sharedcell-editor.js') | null = null;
  private refusalTimer: ReturnType<typeof setTimeout> | null = null;
  private removed = false;
  private status!: HTMLDivElement;
  private outputView: WidgetView | null = null;
  private lease: Lease | null = null;
  private badge: StateBadge | null = null;

  render(): void {
    this.el.classList.add('jp-realtime-widget', 'jp-realtime-sharedcell');
    const channel: string = this.model.get('channel');
    this.el.dataset.channel = channel;
    const host = document.createElement('div');
    host.className = 'jp-realtime-sharedcell-editor';
    this.status = document.createElement('div');
    this.status.className = 'jp-realtime-sharedcell-status';
    this.status.textContent = `${channel}: loading…`;
    this.lease = acquireClient(this.model.get('transports') ?? []);
    const client = this.lease.client;
    this.badge = new StateBadge(client, channel);
    // under the editor, so that the badge never hides code
    const footer = document.createElement('div');
    footer.className = 'jp-realtime-sharedcell-footer';
    footer.append(this.status, this.badge.node);
    this.el.append(host, footer);
    this.shared = new SharedText(client, channel);
    // for tests and the console: the page's shared cells by channel
    const registry = ((window as unknown as { jupyterRealtimeCells?: Map<string, SharedText[]> })
      .jupyterRealtimeCells ??= new Map());
    registry.set(channel, [...(registry.get(channel) ?? []), this.shared]);
    void this.start(host);
    void this.showOutput();
  }

  private async start(host: HTMLElement): Promise<void> {
    const shared = this.shared as SharedText;
    try {
      await shared.start();
    } catch (err) {
      this.status.dataset.state = 'error';
      this.status.textContent = `${shared.channel}: ${String(err)}`;
      this.badge?.error(String(err));
      return;
    }
    const readOnly = !shared.writable;
    this.cm = await codeMirror();
    if (this.removed) {
      return;
    }
    this.host = host;
    this.mountEditor(shared);
    shared.onReset.push(reason => this.reset(shared, reason));
    this.el.dataset.readonly = String(readOnly);
    this.status.dataset.state = 'ready';
    this.status.textContent = `${shared.channel}${readOnly ? ' (read-only)' : ''}`;
    this.el.dataset.ready = 'true';
  }

  /** An editor (CodeMirror, else a textarea) bound to the shared text as it is now. */
  private mountEditor(shared: SharedText): void {
    const host = this.host as HTMLElement;
    const options: SharedEditorOptions = {
      readOnly: !shared.writable,
      height: this.model.get('height') || '',
      language: this.model.get('language')
    };
    this.editor = this.cm
      ? this.cm.createEditor(host, shared, options)
      : new TextareaEditor(host, shared, options);
    this.el.dataset.editor = this.editor.kind;
  }

  /** The document was reloaded after a refused edit: bind a new editor, and say why. */
  private reset(shared: SharedText, reason: string): void {
    if (this.removed) {
      return;
    }
    const hadFocus = this.host?.contains(document.activeElement) ?? false;
    this.editor?.destroy();
    this.mountEditor(shared);
    if (hadFocus) {
      this.host?.querySelector<HTMLElement>('.cm-content, textarea')?.focus();
    }
    this.status.dataset.state = 'refused';
    this.status.textContent =
      `${shared.channel}: your last edit was refused (${reason}); ` +
      'the editor shows the shared text again';
    this.el.dataset.resets = String(shared.resets);
    if (this.refusalTimer !== null) {
      clearTimeout(this.refusalTimer);
    }
    this.refusalTimer = setTimeout(() => {
      this.refusalTimer = null;
      if (this.status.dataset.state === 'refused') {
        this.status.dataset.state = 'ready';
        this.status.textContent = shared.channel + (shared.writable ? '' : ' (read-only)');
      }
    }, REFUSAL_SHOWN);
  }

  private async showOutput(): Promise<void> {
    const model = this.model.get('output') as WidgetModel | null;
    if (!model) {
      return;
    }
    const view = (await this.create_child_view(model)) as WidgetView & { luminoWidget?: Widget };
    this.outputView = view;
    await this.displayed;
    if (view.luminoWidget) {
      Widget.attach(view.luminoWidget, this.el);
    } else {
      this.el.appendChild(view.el);
    }
  }

  remove(): void {
    this.removed = true;
    if (this.refusalTimer !== null) {
      clearTimeout(this.refusalTimer);
    }
    this.editor?.destroy();
    this.editor = null;
    this.outputView?.remove();
    const shared = this.shared;
    if (shared !== null) {
      shared.dispose();
      const registry = (window as unknown as { jupyterRealtimeCells?: Map<string, SharedText[]> })
        .jupyterRealtimeCells;
      registry?.set(shared.channel, (registry.get(shared.channel) ?? []).filter(s => s !== shared));
    }
    this.badge?.dispose();
    this.lease?.release();
    this.lease = null;
    super.remove();
  }
}
