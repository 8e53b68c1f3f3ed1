/**
 * A parser for the `text/event-stream` format (HTML Living Standard, "Server-sent events",
 * section 9.2.6 "Interpreting an event stream"), fed line by line.
 *
 * The client reads SSE with `fetch` rather than `EventSource` so that it sees the comment
 * heartbeats (to detect a stalled stream), sends the token in a header rather than the
 * URL, and reconnects on its own terms (a new stream means a new HTTP session).
 *
 * Public names: `SseParser`, `SseEvent`.
 */

export interface SseEvent {
  /** The event type (`message` when the stream names none). */
  type: string;
  data: string;
  /** The last event id seen on the stream (sticky, as in the standard). */
  lastEventId: string;
}

export class SseParser {
  private type = '';
  private data: string[] = [];
  private lastEventId = '';
  /** The reconnection time the server asked for with `retry:`, in ms. */
  retry: number | null = null;

  /** Feed one line; returns the event it completes (on an empty line), if any. */
  line(line: string): SseEvent | null {
    if (line === '') {
      return this.dispatch();
    }
    if (line.startsWith(':')) {
      return null; // a comment: a heartbeat
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.type = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastEventId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          this.retry = Number(value);
        }
        break;
    }
    return null;
  }

  private dispatch(): SseEvent | null {
    const type = this.type || 'message';
    this.type = '';
    if (this.data.length === 0) {
      return null;
    }
    const data = this.data.join('\n');
    this.data = [];
    return { type, data, lastEventId: this.lastEventId };
  }
}
