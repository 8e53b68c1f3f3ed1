/**
 * Progress bars from the `progress` messages that `jupyter_realtime.progress()` publishes
 * (the format is in docs/kernel.md, version 1): one row per bar id with its description,
 * a bar, `n/total`, the rate and the time left, or the final state once `done`.
 *
 * Shared by the `LiveProgress` widget view and the watch page. Styles are inline so that
 * the rows look the same on both (the watch page has no JupyterLab stylesheet); colours
 * fall back from JupyterLab's CSS variables to plain ones.
 *
 * Public names: `ProgressMessage`, `isProgress`, `describeProgress`, `formatDuration`,
 * `ProgressBars`.
 */

export interface ProgressMessage {
  type: 'progress';
  bar: string;
  desc?: string;
  n: number;
  total: number | null;
  unit?: string;
  unit_scale?: boolean;
  rate: number | null;
  elapsed?: number;
  eta: number | null;
  postfix?: string;
  done: boolean;
  time?: number;
}

/** True when `data` is a progress message (an object with `type: 'progress'` and `n`). */
export function isProgress(data: unknown): data is ProgressMessage {
  if (typeof data !== 'object' || data === null) {
    return false;
  }
  const m = data as Record<string, unknown>;
  return m.type === 'progress' && typeof m.n === 'number';
}

/** Seconds as tqdm shows them: `mm:ss`, or `h:mm:ss` from an hour on. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const two = (v: number): string => String(v).padStart(2, '0');
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${two(m)}:${two(s % 60)}`;
}

function formatCount(n: number, scale: boolean): string {
  if (!scale || Math.abs(n) < 1000) {
    return Number.isInteger(n) ? String(n) : n.toFixed(1);
  }
  const units = ['', 'k', 'M', 'G', 'T', 'P'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${n.toFixed(2)}${units[i]}`;
}

/** The texts of one row: fraction done (null when `total` is unknown) and its labels. */
export function describeProgress(m: ProgressMessage): {
  fraction: number | null;
  count: string;
  rate: string;
  time: string;
} {
  const scale = Boolean(m.unit_scale);
  const unit = m.unit || 'it';
  const total = typeof m.total === 'number' && m.total > 0 ? m.total : null;
  const fraction = total === null ? null : Math.min(1, Math.max(0, m.n / total));
  const count = `${formatCount(m.n, scale)}/${total === null ? '?' : formatCount(total, scale)}`;
  const rate = typeof m.rate === 'number' ? `${formatCount(m.rate, scale)} ${unit}/s` : '';
  let time = '';
  if (m.done) {
    const stopped = total !== null && m.n < total ? 'stopped' : 'done';
    time = typeof m.elapsed === 'number' ? `${stopped} in ${formatDuration(m.elapsed)}` : stopped;
  } else if (typeof m.eta === 'number') {
    time = `ETA ${formatDuration(m.eta)}`;
  } else if (typeof m.elapsed === 'number') {
    time = `${formatDuration(m.elapsed)} elapsed`;
  }
  return { fraction, count, rate, time };
}

const COLOURS = {
  track: 'var(--jp-layout-color3, #ddd)',
  running: 'var(--jp-brand-color1, #1976d2)',
  done: 'var(--jp-success-color1, #388e3c)',
  stopped: 'var(--jp-warn-color1, #f57c00)'
};

interface Row {
  el: HTMLDivElement;
  desc: HTMLSpanElement;
  fill: HTMLDivElement;
  count: HTMLSpanElement;
  rate: HTMLSpanElement;
  time: HTMLSpanElement;
}

function span(className: string, style: string): HTMLSpanElement {
  const el = document.createElement('span');
  el.className = className;
  el.style.cssText = style;
  return el;
}

/**
 * The rows of the bars seen so far, newest bar last; at most `maxBars` rows (the oldest
 * bars go first). `update` takes one progress message; messages arrive in order, so the
 * last one of a bar is its state.
 */
export class ProgressBars {
  readonly el: HTMLDivElement;
  private readonly rows = new Map<string, Row>();

  constructor(public maxBars = 5) {
    this.el = document.createElement('div');
    this.el.className = 'jp-realtime-progress';
  }

  get size(): number {
    return this.rows.size;
  }

  update(m: ProgressMessage): void {
    const id = String(m.bar ?? '');
    const row = this.rows.get(id) ?? this.add(id);
    const { fraction, count, rate, time } = describeProgress(m);
    row.desc.textContent = m.desc ? `${m.desc}:` : '';
    row.count.textContent = count;
    row.rate.textContent = m.done ? '' : rate;
    row.time.textContent = m.postfix ? `${time} ${m.postfix}` : time;
    const stopped = m.done && fraction !== null && fraction < 1;
    row.fill.style.width = `${((fraction ?? (m.done ? 1 : 0)) * 100).toFixed(1)}%`;
    row.fill.style.background = m.done
      ? stopped
        ? COLOURS.stopped
        : COLOURS.done
      : COLOURS.running;
    Object.assign(row.el.dataset, {
      n: String(m.n),
      total: m.total === null ? '' : String(m.total),
      done: String(Boolean(m.done))
    });
  }

  private add(id: string): Row {
    const el = document.createElement('div');
    el.className = 'jp-realtime-progress-row';
    el.dataset.bar = id;
    el.style.cssText =
      'display:flex;flex-wrap:wrap;align-items:center;gap:2px 8px;margin:3px 0;' +
      'font-variant-numeric:tabular-nums';
    const desc = span('jp-realtime-progress-desc', 'font-weight:600');
    const track = document.createElement('div');
    track.className = 'jp-realtime-progress-track';
    track.style.cssText = `flex:1 1 160px;min-width:120px;height:10px;border-radius:5px;overflow:hidden;background:${COLOURS.track}`;
    const fill = document.createElement('div');
    fill.className = 'jp-realtime-progress-fill';
    fill.style.cssText = 'height:100%;width:0;transition:width 0.2s linear';
    track.appendChild(fill);
    const count = span('jp-realtime-progress-count', '');
    const rate = span('jp-realtime-progress-rate', 'opacity:0.75');
    const time = span('jp-realtime-progress-time', 'opacity:0.75');
    el.append(desc, track, count, rate, time);
    this.el.appendChild(el);
    const row = { el, desc, fill, count, rate, time };
    this.rows.set(id, row);
    while (this.rows.size > this.maxBars) {
      const [oldest] = this.rows.keys();
      this.rows.get(oldest)?.el.remove();
      this.rows.delete(oldest);
    }
    return row;
  }
}
