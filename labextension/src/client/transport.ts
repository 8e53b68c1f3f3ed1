/**
 * The transport interface: one connection to the server that carries commands up and
 * frames down. WebSocket does it natively; the HTTP transports (SSE, XHR streaming, long
 * polling) open an HTTP session and send commands with `POST realtime/session/S`
 * (see "HTTP sessions" in `docs/protocol.md`).
 *
 * Guarantees of every transport:
 * - `handlers.open` is called at most once, when commands may be sent;
 * - frames are handed over in the order the server sent them; replies to commands sent
 *   over an HTTP uplink arrive in the order the commands were sent;
 * - `handlers.close` is called exactly once, unless the client called `close()` first;
 *   after it, no handler is called again;
 * - `handlers.activity` is called for every sign of life, heartbeats included.
 *
 * A transport only connects, writes and closes: it does not retry, resubscribe or
 * interpret frames beyond parsing them. Public names: `Transport`, `TransportHandlers`,
 * `TransportOptions`, `TransportName`.
 */
import type { CloseInfo } from './errors.js';
import type { Endpoint } from './http.js';
import type { TransportName } from './ladder.js';
import type { Command, PublishCommand, ServerFrame } from './protocol.js';

export type { TransportName };

export interface TransportHandlers {
  open(): void;
  frame(frame: ServerFrame): void;
  activity(): void;
  close(info: CloseInfo): void;
}

export interface TransportOptions {
  endpoint: Endpoint;
  handlers: TransportHandlers;
  /** Long-poll timeout in seconds (default 25). */
  pollTimeout?: number;
  /** XHR streaming: reopen after this many bytes, to free the response text (default 4 MiB). */
  maxStreamBytes?: number;
}

export interface Transport {
  readonly name: TransportName;
  /** Start connecting. */
  open(): void;
  /** Send commands, in order. Only after `handlers.open`. */
  send(commands: Command[]): void;
  /** Send a publish with raw bytes; transports without binary frames send `data_b64`. */
  sendBinary(command: PublishCommand, bytes: Uint8Array): void;
  /** Close without calling `handlers.close`; ends the HTTP session if there is one. */
  close(): void;
}
