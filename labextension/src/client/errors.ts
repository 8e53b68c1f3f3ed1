/**
 * Errors and disconnect reasons as data (see "Error codes" and "Disconnects" in
 * `docs/protocol.md`).
 *
 * Public names: `RealtimeError`, `CloseInfo`, `closeDecision`.
 */
import type { ErrorBody, ErrorCode } from './protocol.js';

/** A failed command: the server's error code and message, or a local one. */
export class RealtimeError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'RealtimeError';
    this.code = code;
  }

  static from(body: ErrorBody): RealtimeError {
    return new RealtimeError(body.code, body.message);
  }
}

/** Why a transport closed, as the client sees it. */
export interface CloseInfo {
  /** WebSocket close code, the code of a `disconnect` event, or 0 for a network failure. */
  code: number;
  reason: string;
  /** What the server said about reconnecting, when it said anything. */
  reconnect?: boolean;
}

/** What the client does after a close. */
export type CloseDecision = 'reconnect' | 'fallback' | 'stop';

export const TRANSPORT_DISABLED = 4501;

/**
 * Codes 4500-4999 are terminal, except 4501 (`transport_disabled`): use another transport.
 * An explicit `reconnect: false` from the server is terminal too. Anything else
 * (network failures, 1001 shutdown, 4000-4499) reconnects with backoff.
 */
export function closeDecision(info: CloseInfo): CloseDecision {
  if (info.code === TRANSPORT_DISABLED) {
    return 'fallback';
  }
  if ((info.code >= 4500 && info.code <= 4999) || info.reconnect === false) {
    return 'stop';
  }
  return 'reconnect';
}
