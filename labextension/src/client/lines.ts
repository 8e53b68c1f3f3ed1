/**
 * Incremental line splitting for the HTTP streams (NDJSON of XHR streaming, the SSE event
 * stream). Text arrives in arbitrary chunks; complete lines come out, the rest waits.
 *
 * Public names: `LineBuffer`.
 */

export class LineBuffer {
  private rest = '';

  /** Feed a chunk of text; returns the complete lines it finished (without `\r?\n`). */
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.map(line => (line.endsWith('\r') ? line.slice(0, -1) : line));
  }

  /** The incomplete line buffered so far. */
  get pending(): string {
    return this.rest;
  }
}
