/**
 * The uplink of an HTTP session: commands go up with `POST realtime/session/S` (a JSON
 * array), their replies come back in the response, in order. One request is in flight at
 * a time, so commands reach the server in the order they were sent; what is sent while a
 * request runs goes in the next one. `DELETE realtime/session/S` ends the session.
 *
 * Public names: `SessionUplink`.
 */
import type { CloseInfo } from '../errors.js';
import { type Endpoint, statusClose } from '../http.js';
import {
  type Command,
  type ErrorBody,
  type PublishCommand,
  classifyFrame,
  encodeBase64
} from '../protocol.js';
import type { TransportHandlers } from '../transport.js';

export class SessionUplink {
  private queue: Command[] = [];
  private busy = false;
  private closed = false;

  constructor(
    private readonly endpoint: Endpoint,
    readonly session: string,
    private readonly handlers: TransportHandlers,
    private readonly fail: (info: CloseInfo) => void
  ) {}

  send(commands: Command[]): void {
    this.queue.push(...commands);
    void this.flush();
  }

  sendBinary(command: PublishCommand, bytes: Uint8Array): void {
    this.send([{ ...command, data_b64: encodeBase64(bytes) }]);
  }

  /** End the session on the server (best effort) and drop what was not sent. */
  close(): void {
    this.closed = true;
    this.queue = [];
    fetch(this.url(), {
      method: 'DELETE',
      headers: this.endpoint.headers(),
      credentials: 'same-origin',
      keepalive: true
    }).catch(() => undefined);
  }

  private url(): string {
    return this.endpoint.url(`realtime/session/${encodeURIComponent(this.session)}`);
  }

  private async flush(): Promise<void> {
    if (this.busy || this.closed || this.queue.length === 0) {
      return;
    }
    this.busy = true;
    const batch = this.queue;
    this.queue = [];
    try {
      const response = await fetch(this.url(), {
        method: 'POST',
        headers: this.endpoint.headers({ 'Content-Type': 'application/json' }),
        credentials: 'same-origin',
        body: JSON.stringify(batch)
      });
      const body: unknown = await response.json().catch(() => null);
      if (this.closed) {
        return;
      }
      if ([401, 403, 404].includes(response.status)) {
        this.closed = true;
        this.fail(statusClose(response.status, true));
        return;
      }
      this.handlers.activity();
      this.deliver(batch, body);
    } catch (err) {
      if (!this.closed) {
        this.closed = true;
        this.fail({ code: 0, reason: `session request failed: ${String(err)}` });
      }
      return;
    } finally {
      this.busy = false;
    }
    void this.flush();
  }

  /** Hand the replies over; a whole-batch error becomes an error reply per command. */
  private deliver(batch: Command[], body: unknown): void {
    const isReply = (value: unknown) =>
      typeof value === 'object' && value !== null && 'id' in value;
    if (Array.isArray(body) || isReply(body)) {
      for (const value of Array.isArray(body) ? body : [body]) {
        const frame = classifyFrame(value);
        if (frame?.kind === 'reply') {
          this.handlers.frame(frame);
        }
      }
      return;
    }
    const error = (body as { error?: ErrorBody } | null)?.error ?? {
      code: 'internal',
      message: 'unexpected answer to a session request'
    };
    for (const command of batch) {
      if (command.id !== undefined) {
        this.handlers.frame({ kind: 'reply', frame: { id: command.id, error } });
      }
    }
  }
}
