/**
 * Mirrored cells whose start a view no longer has (as `jupyter_realtime/client/_cells.py`).
 *
 * A mirrored run publishes each cell's `cell_start` with the key `cellKey(cell)`, so the
 * channel keeps it beyond its history. A view that meets output of a cell it has not seen
 * start reads that header by key and shows one line, `DROPPED`, with it.
 *
 * Public names: `DROPPED`, `cellKey`, `CellStarts`.
 */

/** The line shown with a cell whose start the channel's history no longer holds. */
export const DROPPED = 'earlier output of this cell was dropped';

/** The publication key of a mirrored cell's `cell_start`. */
export function cellKey(cell: string): string {
  return 'cell:' + cell.replace(/[^A-Za-z0-9_\-.:@/=+,]/g, '_').slice(0, 195);
}

/** Which cells a view has seen start. */
export class CellStarts {
  private readonly seen = new Set<string>();

  /** The cell of `data` if it is a mirrored message of a cell not seen to start (once). */
  missing(data: unknown): string | null {
    if (typeof data !== 'object' || data === null) {
      return null;
    }
    const m = data as { type?: unknown; cell?: unknown };
    if (typeof m.type !== 'string' || typeof m.cell !== 'string' || !m.cell || this.seen.has(m.cell)) {
      return null;
    }
    this.seen.add(m.cell);
    return m.type === 'cell_start' ? null : m.cell;
  }

  /** `cell` started: output of it is not a dropped start. */
  started(cell: string): void {
    this.seen.add(cell);
  }
}
