/**
 * The shared cell's editor where JupyterLab's CodeMirror is not shared (Voilà): a plain
 * `<textarea>` bound to the shared Yjs text. Each input becomes one Yjs change (the
 * replaced span between the common prefix and suffix of the old and new text); each
 * change from elsewhere is applied to the textarea with the caret and selection moved
 * along with the text before them. No remote cursors: the awareness still says who is
 * there.
 *
 * Public names: `TextareaEditor`, `SharedEditor`, `SharedEditorOptions`, `replacement`,
 * `shiftThrough`.
 */
import type * as Y from 'yjs';

import type { SharedText } from './sharedcell-sync.js';

/** An editor bound to a shared text, as `SharedCellView` holds it. */
export interface SharedEditor {
  readonly kind: 'codemirror' | 'textarea';
  destroy(): void;
}

export interface SharedEditorOptions {
  readOnly: boolean;
  /** A CSS height limit ('' for none). */
  height: string;
  /** The language's name, for highlighting where the editor has it. */
  language: string;
}

/** The origin of the textarea's own edits: not applied back to it. */
const TEXTAREA = 'jupyter-realtime:textarea';

/** The single replacement that turns `before` into `after`. Pure. */
export function replacement(
  before: string,
  after: string
): { index: number; remove: number; insert: string } {
  const limit = Math.min(before.length, after.length);
  let start = 0;
  while (start < limit && before.charCodeAt(start) === after.charCodeAt(start)) {
    start++;
  }
  let end = 0;
  while (
    end < limit - start &&
    before.charCodeAt(before.length - 1 - end) === after.charCodeAt(after.length - 1 - end)
  ) {
    end++;
  }
  return {
    index: start,
    remove: before.length - start - end,
    insert: after.slice(start, after.length - end)
  };
}

/**
 * Where `position` (an index into the text before the change) is after a Yjs text delta:
 * text inserted at or before it pushes it on, text deleted before it pulls it back. Pure.
 */
export function shiftThrough(position: number, delta: Y.YTextEvent['delta']): number {
  let old = 0; // where the delta is, in the text before the change
  let shift = 0;
  for (const op of delta) {
    if (old > position) {
      break;
    }
    if (op.retain !== undefined) {
      old += op.retain;
    } else if (op.insert !== undefined) {
      shift += typeof op.insert === 'string' ? op.insert.length : 1;
    } else if (op.delete !== undefined) {
      shift -= Math.max(0, Math.min(op.delete, position - old));
      old += op.delete;
    }
  }
  return position + shift;
}

export class TextareaEditor implements SharedEditor {
  readonly kind = 'textarea';
  readonly node: HTMLTextAreaElement;
  private value: string;

  private readonly onInput = (): void => {
    const after = this.node.value;
    const { index, remove, insert } = replacement(this.value, after);
    this.value = after;
    if (remove === 0 && insert === '') {
      return;
    }
    const text = this.shared.text;
    this.shared.doc.transact(() => {
      if (remove > 0) {
        text.delete(index, remove);
      }
      if (insert) {
        text.insert(index, insert);
      }
    }, TEXTAREA);
  };

  private readonly onChange = (event: Y.YTextEvent, tx: Y.Transaction): void => {
    if (tx.origin === TEXTAREA) {
      return;
    }
    const node = this.node;
    const focused = document.activeElement === node;
    const start = shiftThrough(node.selectionStart, event.delta);
    const end = shiftThrough(node.selectionEnd, event.delta);
    this.value = this.shared.text.toString();
    node.value = this.value;
    if (focused) {
      node.setSelectionRange(start, end);
    }
  };

  constructor(
    host: HTMLElement,
    private readonly shared: SharedText,
    options: SharedEditorOptions
  ) {
    this.node = document.createElement('textarea');
    this.node.className = 'jp-realtime-sharedcell-textarea';
    this.node.spellcheck = false;
    this.node.readOnly = options.readOnly;
    this.node.rows = Math.min(20, Math.max(4, shared.text.toString().split('\n').length + 1));
    if (options.height) {
      this.node.style.maxHeight = options.height;
    }
    this.value = shared.text.toString();
    this.node.value = this.value;
    this.node.addEventListener('input', this.onInput);
    shared.text.observe(this.onChange);
    host.appendChild(this.node);
  }

  destroy(): void {
    this.node.removeEventListener('input', this.onInput);
    this.shared.text.unobserve(this.onChange);
    this.node.remove();
  }
}
