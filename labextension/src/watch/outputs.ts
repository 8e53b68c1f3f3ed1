/**
 * The watch page's view of a mirrored channel: cells and their outputs rebuilt from the
 * messages of docs/kernel.md (version 1), following its rules (the same ones
 * `%realtime watch` and `jupyter realtime watch` follow).
 *
 * Nothing from the channel runs: each message is checked against the format
 * (`format.ts`; one that fails is shown as text), text is set as text (`textContent`),
 * `text/html` and `image/svg+xml` go through the sanitiser policy shared with
 * `%realtime watch` (`sanitize.ts`, DOMPurify: no scripts, no event handler attributes,
 * no `javascript:` URLs), images are `data:` URLs built from their base64, and ANSI colour
 * codes are stripped from tracebacks.
 *
 * Public names: `OutputsView`, `renderBundle`, `MAX_CELLS`.
 */
import { parseMirrorMessage } from './format.js';
import { ProgressBars, isProgress } from './progress.js';
import { cleanHtml, cleanSvg } from './sanitize.js';
import { stripAnsi, terminalText } from './text.js';
import { CellStarts, DROPPED } from './cells.js';

/** Cells shown; older ones are removed. */
export const MAX_CELLS = 50;
/** Characters of one stream output kept (its end); a log of hours stays light. */
const MAX_STREAM_CHARS = 200_000;

type Bundle = Record<string, unknown>;
type Message = Record<string, unknown> & { type: string };

interface Output {
  el: HTMLElement;
  kind: 'stream' | 'display' | 'error';
  name?: string;
  text?: string;
  displayId?: string;
}

interface Cell {
  el: HTMLElement;
  header: HTMLElement;
  status: HTMLElement;
  body: HTMLElement;
  outputs: Output[];
  clearPending: boolean;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  el.className = className;
  if (text !== undefined) {
    el.textContent = text;
  }
  return el;
}

const IMAGES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'];

/** The richest representation of a MIME bundle this page can show safely. */
export function renderBundle(data: Bundle): HTMLElement {
  const html = data['text/html'];
  if (typeof html === 'string') {
    const el = element('div', 'rw-html');
    el.innerHTML = cleanHtml(html);
    return el;
  }
  const svg = data['image/svg+xml'];
  if (typeof svg === 'string') {
    const el = element('div', 'rw-svg');
    el.innerHTML = cleanSvg(svg);
    return el;
  }
  for (const mime of IMAGES) {
    const b64 = data[mime];
    if (typeof b64 === 'string') {
      const img = element('img', 'rw-image');
      img.src = `data:${mime};base64,${b64.replace(/\s+/g, '')}`;
      img.alt = typeof data['text/plain'] === 'string' ? (data['text/plain'] as string) : mime;
      return img;
    }
  }
  for (const mime of ['text/markdown', 'text/latex', 'text/plain']) {
    if (typeof data[mime] === 'string') {
      return element('pre', 'rw-text', stripAnsi(data[mime] as string));
    }
  }
  const json = data['application/json'];
  if (json !== undefined) {
    return element('pre', 'rw-text', JSON.stringify(json, null, 2));
  }
  return element('pre', 'rw-text rw-muted', `[${Object.keys(data).join(', ') || 'empty output'}]`);
}

export class OutputsView {
  readonly el: HTMLElement;
  readonly bars = new ProgressBars(8);
  /** The state of the newest cell: `In [3] running`, `In [3] ok in 4.2 s`. */
  state = 'waiting for output';
  private readonly cells = new Map<string, Cell>();
  private readonly list: HTMLElement;
  /** Cells seen to start, or already marked as dropped. */
  private readonly starts = new CellStarts();

  constructor() {
    this.el = element('div', 'rw-view');
    this.list = element('div', 'rw-cells');
    this.el.append(this.bars.el, this.list);
  }

  /** Take one publication's data into the view. */
  apply(data: unknown): void {
    if (parseMirrorMessage(data) === null) {
      this.addStream('', 'stdout', `${data instanceof Uint8Array ? `<${data.byteLength} bytes>` : JSON.stringify(data)}\n`);
      return;
    }
    const m = data as Message;
    const cellId = typeof m.cell === 'string' ? m.cell : '';
    switch (m.type) {
      case 'cell_start':
        this.startCell(cellId, m);
        break;
      case 'cell_end':
        this.endCell(cellId, m);
        break;
      case 'stream':
        this.addStream(cellId, String(m.name ?? 'stdout'), String(m.text ?? ''));
        break;
      case 'display_data':
      case 'execute_result':
        this.addDisplay(cellId, m);
        break;
      case 'update_display_data':
        this.updateDisplay(m);
        break;
      case 'clear_output':
        if (m.wait) {
          this.cell(cellId).clearPending = true;
        } else {
          this.clear(this.cell(cellId));
        }
        break;
      case 'error':
        this.addError(cellId, m);
        break;
      case 'progress':
        if (isProgress(m)) {
          this.bars.update(m);
        }
        break;
      default:
        break; // later versions only add types: ignore what is unknown
    }
  }

  /**
   * The cell of `data` if it is a mirrored message of a cell not seen to start (once per
   * cell): its start is no longer in the history, and `dropped` should be shown for it.
   */
  missingStart(data: unknown): string | null {
    return this.starts.missing(data);
  }

  /** One line saying that the cell's earlier output was dropped (its header comes by `named`). */
  dropped(id: string): void {
    const cell = this.cell(id);
    const line = element('div', 'rw-dropped', DROPPED);
    cell.body.prepend(line);
  }

  /** Name a cell from its `cell_start` as kept by key: `In [N]` and its code. */
  named(id: string, header: unknown): void {
    const cell = this.cells.get(id);
    if (cell && typeof header === 'object' && header !== null && (header as Message).type === 'cell_start') {
      this.label(cell, header as Message);
    }
  }

  /** A marker where publications were missed (no longer in the channel's history). */
  gap(): void {
    const cell = this.cell('');
    this.append(cell, {
      el: element('div', 'rw-gap', '… some output was missed (no longer in the history)'),
      kind: 'display'
    });
  }

  private cell(id: string): Cell {
    let cell = this.cells.get(id);
    if (cell === undefined) {
      const el = element('section', 'rw-cell');
      el.dataset.cell = id;
      const header = element('div', 'rw-cell-header');
      const status = element('span', 'rw-cell-status');
      const body = element('div', 'rw-cell-body');
      header.append(element('span', 'rw-cell-label', id ? 'cell' : 'published'), status);
      el.append(header, body);
      this.list.appendChild(el);
      cell = { el, header, status, body, outputs: [], clearPending: false };
      this.cells.set(id, cell);
      while (this.cells.size > MAX_CELLS) {
        const [oldest] = this.cells.keys();
        this.cells.get(oldest)?.el.remove();
        this.cells.delete(oldest);
      }
    }
    return cell;
  }

  private startCell(id: string, m: Message): void {
    const old = this.cells.get(id);
    if (old) {
      old.el.remove();
      this.cells.delete(id);
    }
    const cell = this.cell(id);
    this.starts.started(id);
    const label = this.label(cell, m);
    cell.el.dataset.state = 'running';
    cell.status.textContent = 'running';
    this.state = `${label} running`;
  }

  private label(cell: Cell, m: Message): string {
    const count = m.execution_count;
    const label = typeof count === 'number' ? `In [${count}]` : 'cell';
    (cell.header.firstChild as HTMLElement).textContent = label;
    if (typeof m.time === 'number') {
      cell.status.title = `started ${new Date(m.time * 1000).toLocaleString()}`;
    }
    if (typeof m.code === 'string' && m.code && !cell.el.querySelector('.rw-code')) {
      const details = element('details', 'rw-code');
      details.append(element('summary', '', 'code'), element('pre', '', m.code));
      cell.header.after(details);
    }
    return label;
  }

  private endCell(id: string, m: Message): void {
    const cell = this.cell(id);
    const status = String(m.status ?? 'done');
    const duration = typeof m.duration === 'number' ? ` in ${m.duration.toFixed(1)} s` : '';
    cell.el.dataset.state = status;
    cell.status.textContent = `${status}${duration}`;
    const label = (cell.header.firstChild as HTMLElement).textContent;
    this.state = `${label} ${status}${duration}`;
  }

  private append(cell: Cell, output: Output): void {
    if (cell.clearPending) {
      this.clear(cell);
    }
    cell.outputs.push(output);
    cell.body.appendChild(output.el);
  }

  private clear(cell: Cell): void {
    cell.clearPending = false;
    cell.outputs.forEach(o => o.el.remove());
    cell.outputs = [];
  }

  private addStream(id: string, name: string, text: string): void {
    const cell = this.cell(id);
    const last = cell.outputs[cell.outputs.length - 1];
    if (!cell.clearPending && last?.kind === 'stream' && last.name === name) {
      last.text = (last.text + text).slice(-MAX_STREAM_CHARS);
      last.el.textContent = terminalText(last.text);
      return;
    }
    const el = element('pre', `rw-stream rw-${name === 'stderr' ? 'stderr' : 'stdout'}`);
    el.textContent = terminalText(text);
    this.append(cell, { el, kind: 'stream', name, text });
  }

  private addDisplay(id: string, m: Message): void {
    const el = element('div', `rw-output rw-${m.type}`);
    el.appendChild(renderBundle((m.data ?? {}) as Bundle));
    const displayId = typeof m.display_id === 'string' ? m.display_id : undefined;
    if (displayId) {
      el.dataset.displayId = displayId;
    }
    this.append(this.cell(id), { el, kind: 'display', displayId });
  }

  private updateDisplay(m: Message): void {
    if (typeof m.display_id !== 'string') {
      return;
    }
    for (const cell of this.cells.values()) {
      for (const output of cell.outputs) {
        if (output.displayId === m.display_id) {
          output.el.replaceChildren(renderBundle((m.data ?? {}) as Bundle));
        }
      }
    }
  }

  private addError(id: string, m: Message): void {
    const traceback = Array.isArray(m.traceback) ? m.traceback.map(String) : [];
    const text = traceback.length
      ? traceback.join('\n')
      : `${String(m.ename ?? 'Error')}: ${String(m.evalue ?? '')}`;
    const el = element('pre', 'rw-error', stripAnsi(text));
    this.append(this.cell(id), { el, kind: 'error' });
  }
}
