/**
 * `SharedCell`: a CodeMirror 6 editor (JupyterLab's editor) bound to a shared Yjs text by
 * y-codemirror.next, with the other editors' cursors and selections labelled with their
 * Jupyter name in their colour, read-only for a user who may not publish on the channel,
 * and the kernel's `run()` output under it. Like every realtime view, it shows its
 * connection's state in a badge (`badge.ts`). When an edit is refused (`rate_limited`,
 * `too_large`), the document is reloaded from the server's (`SharedText.resync`): the editor
 * is bound to the new one and the status line says why, for `REFUSAL_SHOWN` ms.
 *
 * Public names: `SharedCellModel`, `SharedCellView`.
 */
import { defaultKeymap, indentWithTab } from '@codemirror/commands';
import { Compartment, EditorState } from '@codemirror/state';
import { EditorView, drawSelection, keymap, lineNumbers } from '@codemirror/view';
import {
  DOMWidgetView,
  unpack_models,
  type WidgetModel,
  type WidgetView
} from '@jupyter-widgets/base';
import { EditorLanguageRegistry, jupyterTheme } from '@jupyterlab/codemirror';
import { Widget } from '@lumino/widgets';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import * as Y from 'yjs';

import type { Lease } from '../pool.js';
import { acquireClient } from '../shared.js';
import { StateBadge } from './badge.js';
import { ChannelModel } from './base.js';
import { SharedText } from './sharedcell-sync.js';

let languages: EditorLanguageRegistry | null = null;

/** How long the status line shows why an edit was refused. */
const REFUSAL_SHOWN = 15000;

/** JupyterLab's own language support (highlighting) for `name`, if it knows it. */
async function languageSupport(name: string): Promise<unknown[]> {
  if (!name) {
    return [];
  }
  if (languages === null) {
    languages = new EditorLanguageRegistry();
    EditorLanguageRegistry.getDefaultLanguages().forEach(lang => languages?.addLanguage(lang));
  }
  const found = await languages.getLanguage(name).catch(() => null);
  return found?.support ? [found.support] : [];
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
  private editor: EditorView | null = null;
  private readonly language = new Compartment();
  private status!: HTMLDivElement;
  private outputView: WidgetView | null = null;
  private lease: Lease | null = null;
  private badge: StateBadge | null = null;
  private host: HTMLElement | null = null;
  private refusalTimer: ReturnType<typeof setTimeout> | null = null;

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
    this.host = host;
    this.mountEditor(shared);
    shared.onReset.push(reason => this.reset(shared, reason));
    const support = await languageSupport(this.model.get('language'));
    this.editor?.dispatch({ effects: this.language.reconfigure(support as never) });
  }

  /** A CodeMirror editor bound to the shared text as it is now. */
  private mountEditor(shared: SharedText): void {
    const undoManager = new Y.UndoManager(shared.text);
    const readOnly = !shared.writable;
    this.editor = new EditorView({
      parent: this.host as HTMLElement,
      state: EditorState.create({
        doc: shared.text.toString(),
        extensions: [
          lineNumbers(),
          drawSelection(),
          EditorView.lineWrapping,
          keymap.of([...yUndoManagerKeymap, ...defaultKeymap, indentWithTab]),
          jupyterTheme,
          this.language.of([]),
          EditorState.readOnly.of(readOnly),
          EditorView.editable.of(!readOnly),
          EditorView.theme({ '&': { maxHeight: this.model.get('height') || 'none' } }),
          yCollab(shared.text, shared.awareness, { undoManager })
        ]
      })
    });
    this.el.dataset.readonly = String(readOnly);
    this.status.dataset.state = 'ready';
    this.status.textContent = `${shared.channel}${readOnly ? ' (read-only)' : ''}`;
    this.el.dataset.ready = 'true';
  }

  /** The document was reloaded after a refused edit: bind a new editor, and say why. */
  private reset(shared: SharedText, reason: string): void {
    const hadFocus = this.editor?.hasFocus ?? false;
    this.editor?.destroy();
    this.mountEditor(shared);
    void languageSupport(this.model.get('language')).then(support =>
      this.editor?.dispatch({ effects: this.language.reconfigure(support as never) })
    );
    if (hadFocus) {
      this.editor?.focus();
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
    if (this.refusalTimer !== null) {
      clearTimeout(this.refusalTimer);
    }
    this.editor?.destroy();
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
