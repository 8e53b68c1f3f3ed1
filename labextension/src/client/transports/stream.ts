/**
 * XHR streaming transport: `GET realtime/stream?session=1` read with `XMLHttpRequest` as
 * it arrives, one JSON frame per line (empty or blank lines are padding and heartbeats);
 * commands go up through the session. The response text only grows, so the stream is
 * reopened after `maxStreamBytes` (the client resumes from its positions).
 *
 * Public names: `XhrStreamTransport`.
 */
import { statusClose } from '../http.js';
import { LineBuffer } from '../lines.js';
import { parseFrame } from '../protocol.js';
import { HttpSessionTransport } from './http-session.js';

export const RECYCLE = 'recycle';

export class XhrStreamTransport extends HttpSessionTransport {
  readonly name = 'stream';
  private xhr: XMLHttpRequest | null = null;
  private seen = 0;
  private readonly lines = new LineBuffer();

  protected async run(): Promise<void> {
    const { endpoint } = this.options;
    const xhr = new XMLHttpRequest();
    xhr.open('GET', endpoint.url('realtime/stream', { session: 1 }));
    for (const [name, value] of Object.entries(endpoint.headers())) {
      xhr.setRequestHeader(name, value);
    }
    xhr.onprogress = () => this.read();
    xhr.onload = () => {
      this.read();
      this.fail({ code: 0, reason: 'the stream ended' });
    };
    xhr.onerror = () => this.fail({ code: 0, reason: 'stream request failed' });
    xhr.send();
    this.xhr = xhr;
  }

  protected stop(): void {
    if (this.xhr) {
      this.xhr.onprogress = this.xhr.onload = this.xhr.onerror = null;
      this.xhr.abort();
    }
  }

  private read(): void {
    const xhr = this.xhr;
    if (xhr === null || this.done) {
      return;
    }
    if (xhr.status !== 200) {
      this.fail(statusClose(xhr.status));
      return;
    }
    const text = xhr.responseText;
    const chunk = text.slice(this.seen);
    this.seen = text.length;
    if (chunk) {
      this.options.handlers.activity();
    }
    for (const line of this.lines.push(chunk)) {
      const frame = line.trim() ? parseFrame(line) : null;
      if (frame) {
        this.receive(frame);
      }
    }
    if (this.seen > (this.options.maxStreamBytes ?? 4 << 20)) {
      this.fail({ code: 1000, reason: RECYCLE });
    }
  }
}
