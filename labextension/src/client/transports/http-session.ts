/**
 * What the HTTP transports share: a downlink (SSE, XHR streaming or long polling, opened
 * with `session=1`) whose first frame names the session, and a `SessionUplink` for the
 * commands. A subclass only reads its downlink (`run`) and calls `receive` for each frame and
 * `fail` when the downlink breaks.
 *
 * Public names: `HttpSessionTransport`.
 */
import type { CloseInfo } from '../errors.js';
import type { Command, PublishCommand, ServerFrame } from '../protocol.js';
import type { Transport, TransportName, TransportOptions } from '../transport.js';
import { SessionUplink } from './session.js';

export abstract class HttpSessionTransport implements Transport {
  abstract readonly name: TransportName;
  protected uplink: SessionUplink | null = null;
  protected done = false;
  /** Aborts the downlink's `fetch`. */
  protected readonly abort = new AbortController();

  constructor(protected readonly options: TransportOptions) {}

  open(): void {
    void this.run();
  }

  /** Read the downlink until it ends or `done`. */
  protected abstract run(): Promise<void>;

  /** Abort the downlink request. */
  protected stop(): void {
    this.abort.abort();
  }

  send(commands: Command[]): void {
    this.uplink?.send(commands);
  }

  sendBinary(command: PublishCommand, bytes: Uint8Array): void {
    this.uplink?.sendBinary(command, bytes);
  }

  close(): void {
    if (!this.done) {
      this.done = true;
      this.stop();
      this.uplink?.close();
    }
  }

  /** The session id, once the downlink named it. */
  get session(): string | null {
    return this.uplink?.session ?? null;
  }

  /** A frame from the downlink: `session` opens the transport, `disconnect` closes it. */
  protected receive(frame: ServerFrame): void {
    if (this.done) {
      return;
    }
    if (frame.kind === 'event' && frame.frame.event === 'session') {
      if (this.uplink === null) {
        this.uplink = new SessionUplink(
          this.options.endpoint,
          frame.frame.session,
          this.options.handlers,
          info => this.fail(info)
        );
        this.options.handlers.open();
      }
      return;
    }
    if (frame.kind === 'event' && frame.frame.event === 'disconnect') {
      const { code, reason, reconnect } = frame.frame;
      this.fail({ code, reason, reconnect });
      return;
    }
    this.options.handlers.frame(frame);
  }

  /** The downlink or the uplink broke: close once and tell the client why. */
  protected fail(info: CloseInfo): void {
    if (!this.done) {
      this.close();
      this.options.handlers.close(info);
    }
  }
}
