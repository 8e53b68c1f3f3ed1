/**
 * Server-Sent Events transport: `GET realtime/sse?session=1`, read with `fetch` and parsed
 * as `text/event-stream` (see `sse-parser.ts` for why not `EventSource`); commands go up
 * through the session. Public names: `SseTransport`.
 */
import { statusClose } from '../http.js';
import { LineBuffer } from '../lines.js';
import { parseFrame } from '../protocol.js';
import { SseParser } from '../sse-parser.js';
import { HttpSessionTransport } from './http-session.js';

export class SseTransport extends HttpSessionTransport {
  readonly name = 'sse';
  protected async run(): Promise<void> {
    const { endpoint, handlers } = this.options;
    try {
      const response = await fetch(endpoint.url('realtime/sse', { session: 1 }), {
        headers: endpoint.headers({ Accept: 'text/event-stream' }),
        credentials: 'same-origin',
        cache: 'no-store',
        signal: this.abort.signal
      });
      if (!response.ok || response.body === null) {
        this.fail(statusClose(response.status));
        return;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      const lines = new LineBuffer();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.done) {
          break;
        }
        handlers.activity();
        for (const line of lines.push(value)) {
          const event = parser.line(line);
          const frame = event && parseFrame(event.data);
          if (frame) {
            this.receive(frame);
          }
        }
      }
      this.fail({ code: 0, reason: 'the event stream ended' });
    } catch (err) {
      this.fail({ code: 0, reason: `event stream failed: ${String(err)}` });
    }
  }
}
