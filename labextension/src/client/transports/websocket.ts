/**
 * WebSocket transport (RFC 6455): `GET realtime/ws`. Text frames carry one JSON command
 * up or one frame down; binary frames carry a publish with raw bytes (see "WebSocket" in
 * `docs/protocol.md`). Public names: `WebSocketTransport`.
 */
import type { Transport, TransportOptions } from '../transport.js';
import {
  type Command,
  type PublishCommand,
  packBinary,
  parseBinaryFrame,
  parseFrame
} from '../protocol.js';

export class WebSocketTransport implements Transport {
  readonly name = 'websocket';
  private ws: WebSocket | null = null;
  private done = false;

  constructor(private readonly options: TransportOptions) {}

  open(): void {
    const { endpoint, handlers } = this.options;
    let ws: WebSocket;
    try {
      ws = new WebSocket(endpoint.wsUrl('realtime/ws'));
    } catch (err) {
      this.finish(0, `cannot open a WebSocket: ${String(err)}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (!this.done) {
        handlers.activity();
        handlers.open();
      }
    };
    ws.onmessage = (event: MessageEvent) => {
      if (this.done) {
        return;
      }
      handlers.activity();
      const frame =
        typeof event.data === 'string'
          ? parseFrame(event.data)
          : parseBinaryFrame(event.data as ArrayBuffer);
      if (frame) {
        handlers.frame(frame);
      }
    };
    ws.onclose = (event: CloseEvent) => this.finish(event.code, event.reason);
    ws.onerror = () => undefined; // onclose follows with the code
    this.ws = ws;
  }

  send(commands: Command[]): void {
    for (const command of commands) {
      this.ws?.send(JSON.stringify(command));
    }
  }

  sendBinary(command: PublishCommand, bytes: Uint8Array): void {
    this.ws?.send(packBinary(command, bytes));
  }

  close(): void {
    this.done = true;
    if (this.ws) {
      this.ws.onopen = this.ws.onmessage = this.ws.onclose = null;
      this.ws.close(1000);
    }
  }

  private finish(code: number, reason: string): void {
    if (!this.done) {
      this.done = true;
      // 1006: closed without a close frame (network failure, refused handshake)
      this.options.handlers.close({ code: code === 1006 ? 0 : code, reason });
    }
  }
}
