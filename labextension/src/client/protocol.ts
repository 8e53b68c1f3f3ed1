/**
 * The wire protocol v1 as TypeScript types, and the parsing of server frames.
 *
 * Mirrors `docs/protocol.md` (the contract) and `jupyter_realtime/protocol.py`. Frames
 * carry literal discriminators (`op` on commands, `event` on events); a server frame is
 * recognised on its own: an event has `event`, a reply has `id`, a publication has
 * `channel` and `offset`.
 *
 * Public names: the frame types, `parseFrame`, `classifyFrame`, `morePages`, `packBinary`,
 * `unpackBinary`, `encodeBase64`, `decodeBase64`, `isValidChannel`.
 */

/** A place in a channel: the last offset seen inside an epoch. */
export interface Position {
  epoch: string;
  offset: number;
}

export type CommandId = number | string;

// -- commands (client to server) --

export interface SubscribeCommand {
  op: 'subscribe';
  id?: CommandId;
  channel: string;
  since?: Position;
  presence?: boolean;
}

export interface UnsubscribeCommand {
  op: 'unsubscribe';
  id?: CommandId;
  channel: string;
}

export interface PublishCommand {
  op: 'publish';
  id?: CommandId;
  channel: string;
  data?: unknown;
  data_b64?: string;
  /** 1 to 200 characters; a repeat within the server's idempotency_ttl is stored once. */
  idempotency_key?: string;
  /** The channel keeps the latest publication of each key beyond its history. */
  key?: string;
}

export interface HistoryCommand {
  op: 'history';
  id?: CommandId;
  channel: string;
  since?: Position;
  limit?: number;
  /** The latest publication of this key (`since` is then ignored). */
  key?: string;
  /** The latest publication of each key starting with it. */
  key_prefix?: string;
}

export interface PresenceCommand {
  op: 'presence';
  id?: CommandId;
  channel: string;
}

export interface PingCommand {
  op: 'ping';
  id?: CommandId;
}

export type Command =
  | SubscribeCommand
  | UnsubscribeCommand
  | PublishCommand
  | HistoryCommand
  | PresenceCommand
  | PingCommand;

// -- frames (server to client) --

export interface PublicationFrame {
  channel: string;
  epoch: string;
  offset: number;
  data?: unknown;
  data_b64?: string;
  ts: number;
  /** Who published it, as the server verified it (a Jupyter user id, or USER/kernel/ID). */
  sender: string | null;
  /** The display name the server stamped for `sender`: what views show as the author. */
  sender_name?: string;
  /** Only on a publication published with a key. */
  key?: string;
  /** Set on XHR streaming and polling frames: the stream's position after this one. */
  cursor?: string;
}

export type ErrorCode =
  | 'bad_request'
  | 'bad_key'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export interface ResultReply {
  id: CommandId;
  result: Record<string, unknown>;
}

export interface ErrorReply {
  id: CommandId | null;
  error: ErrorBody;
}

export type ReplyFrame = ResultReply | ErrorReply;

/** Presence information about one connection, from Jupyter's identity provider. */
export interface ClientInfo {
  client: string;
  user: string;
  name?: string;
  color?: string | null;
}

export interface JoinEvent {
  event: 'join';
  channel: string;
  client: ClientInfo;
}

export interface LeaveEvent {
  event: 'leave';
  channel: string;
  client: ClientInfo;
}

export interface GapEvent {
  event: 'gap';
  channel: string;
  epoch: string;
  offset: number;
}

export interface SubscribedEvent {
  event: 'subscribed';
  channel: string;
  epoch: string;
  offset: number;
  recovered: boolean;
}

export interface SessionEvent {
  event: 'session';
  session: string;
}

export interface DisconnectEvent {
  event: 'disconnect';
  code: number;
  reason: string;
  reconnect: boolean;
}

export type EventFrame =
  | JoinEvent
  | LeaveEvent
  | GapEvent
  | SubscribedEvent
  | SessionEvent
  | DisconnectEvent;

/** A parsed server frame, tagged with what it is. */
export type ServerFrame =
  | { kind: 'publication'; frame: PublicationFrame; bytes?: Uint8Array }
  | { kind: 'reply'; frame: ReplyFrame }
  | { kind: 'event'; frame: EventFrame };

// -- results --

export interface SubscribeResult {
  epoch: string;
  offset: number;
  recovered: boolean;
}

export interface PublishResult {
  epoch: string;
  offset: number;
  /** The idempotency key was known: nothing was stored; the first one's position. */
  duplicate?: boolean;
}

export interface HistoryResult {
  publications: PublicationFrame[];
  /** The channel's newest position. */
  epoch: string;
  offset: number;
  /** False when the history no longer reaches back to the `since` asked for. */
  recovered: boolean;
  /**
   * True when the answer was cut short (by bytes) before `limit` or the channel's end:
   * ask again with `since` = the last publication's position. Absent from servers that
   * do not cut pages; `morePages` applies the rule for both.
   */
  more?: boolean;
}

/**
 * Whether a history page was cut short and the next page starts after its last
 * publication: `more` when the server says it, else (older servers) a full page.
 */
export function morePages(page: HistoryResult, limit: number): boolean {
  if (page.publications.length === 0) {
    return false;
  }
  return page.more ?? page.publications.length >= limit;
}

export interface PresenceResult {
  clients: ClientInfo[];
}

// -- parsing --

const CHANNEL_RE = /^[A-Za-z0-9_\-.:@]{1,200}$/;
const EVENTS = new Set(['join', 'leave', 'gap', 'subscribed', 'session', 'disconnect']);

export function isValidChannel(channel: string): boolean {
  return CHANNEL_RE.test(channel);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Tag a decoded JSON value as a publication, reply or event; `null` for anything else
 * (an unknown event, a frame missing its fields), which a client should ignore.
 */
export function classifyFrame(value: unknown): ServerFrame | null {
  if (!isObject(value)) {
    return null;
  }
  if ('event' in value) {
    return typeof value.event === 'string' && EVENTS.has(value.event)
      ? { kind: 'event', frame: value as unknown as EventFrame }
      : null;
  }
  if ('id' in value) {
    return isObject(value.result) || isObject(value.error)
      ? { kind: 'reply', frame: value as unknown as ReplyFrame }
      : null;
  }
  if (typeof value.channel === 'string' && typeof value.offset === 'number') {
    return typeof value.epoch === 'string'
      ? { kind: 'publication', frame: value as unknown as PublicationFrame }
      : null;
  }
  return null;
}

/** Parse one text frame; `null` for malformed JSON or an unrecognised frame. */
export function parseFrame(text: string): ServerFrame | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return classifyFrame(value);
}

// -- binary frames (WebSocket) --

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A binary frame: 4-byte big-endian header length, JSON header, raw bytes. */
export function packBinary(header: object, bytes: Uint8Array): Uint8Array {
  const head = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(4 + head.length + bytes.length);
  new DataView(out.buffer).setUint32(0, head.length, false);
  out.set(head, 4);
  out.set(bytes, 4 + head.length);
  return out;
}

/** The JSON header and the payload of a binary frame; throws on a malformed frame. */
export function unpackBinary(frame: ArrayBuffer | Uint8Array): {
  header: Record<string, unknown>;
  bytes: Uint8Array;
} {
  const buf = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  if (buf.length < 4) {
    throw new Error('binary frame shorter than its header');
  }
  const size = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0, false);
  if (size > buf.length - 4) {
    throw new Error('binary frame header length exceeds frame');
  }
  const header: unknown = JSON.parse(decoder.decode(buf.subarray(4, 4 + size)));
  if (!isObject(header)) {
    throw new Error('binary frame header must be a JSON object');
  }
  return { header, bytes: buf.slice(4 + size) };
}

/** Parse one binary WebSocket frame into a publication carrying its bytes. */
export function parseBinaryFrame(frame: ArrayBuffer | Uint8Array): ServerFrame | null {
  let parts;
  try {
    parts = unpackBinary(frame);
  } catch {
    return null;
  }
  const tagged = classifyFrame(parts.header);
  if (tagged?.kind !== 'publication') {
    return null;
  }
  return { kind: 'publication', frame: tagged.frame, bytes: parts.bytes };
}

// -- base64 (standard alphabet, with padding), for data_b64 --

export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    out[i] = binary.charCodeAt(i);
  }
  return out;
}
