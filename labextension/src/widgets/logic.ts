/**
 * The pure logic of the widget views, apart from the DOM and the widget manager (so it is
 * tested under Node): picking a key out of data, a bounded window of chart points, and the
 * echo rules of `ChannelLink`.
 *
 * Public names: `pick`, `toNumber`, `PointWindow`, `LinkState`.
 */

/** `data[key]` of an object (dotted keys reach into nested objects); `data` without a key. */
export function pick(data: unknown, key: string | null): { found: boolean; value: unknown } {
  if (!key) {
    return { found: true, value: data };
  }
  let value: unknown = data;
  for (const part of key.split('.')) {
    if (value === null || typeof value !== 'object' || !(part in (value as object))) {
      return { found: false, value: undefined };
    }
    value = (value as Record<string, unknown>)[part];
  }
  return { found: true, value };
}

/** A finite number from a number or a numeric string, else null. */
export function toNumber(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : null;
}

/**
 * The last `size` points of several series, as the column arrays uPlot draws (which wants
 * x sorted).
 */
export class PointWindow {
  readonly columns: (number | null)[][];

  constructor(
    readonly series: number,
    public size: number
  ) {
    this.columns = Array.from({ length: series + 1 }, () => []);
  }

  /** Add a point. An x below the last one starts a new run: the window starts over. */
  push(x: number, ys: (number | null)[]): void {
    const xs = this.columns[0];
    if (xs.length > 0 && x < (xs[xs.length - 1] as number)) {
      this.columns.forEach(column => column.splice(0));
    }
    this.columns[0].push(x);
    ys.forEach((y, i) => this.columns[i + 1].push(y));
    this.trim();
  }

  trim(): void {
    const extra = this.columns[0].length - this.size;
    if (extra > 0) {
      this.columns.forEach(column => column.splice(0, extra));
    }
  }
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** The echo rules, apart from the widget machinery (pure). */
export class LinkState {
  readonly source = Math.random().toString(36).slice(2, 12);
  applying = false;

  /** The value to apply from a publication, or `undefined` to ignore it. */
  incoming(data: unknown, current: unknown): { value: unknown } | undefined {
    if (data === null || typeof data !== 'object' || !('value' in data)) {
      return undefined;
    }
    const { value, source } = data as { value: unknown; source?: unknown };
    if (source === this.source || same(value, current)) {
      return undefined;
    }
    return { value };
  }

  /** The publication for a local change, or `undefined` when nothing must be sent. */
  outgoing(value: unknown, lastSeen: unknown): { value: unknown; source: string } | undefined {
    if (this.applying || same(value, lastSeen)) {
      return undefined;
    }
    return { value, source: this.source };
  }
}
