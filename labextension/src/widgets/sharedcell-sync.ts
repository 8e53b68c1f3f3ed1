/**
 * A shared cell's Yjs document, synced over a realtime channel as docs/shared-cells.md
 * describes: load the state from `realtime/api/documents/{channel}`, subscribe with
 * `since` = the position it includes, publish each local edit as a y-protocols sync
 * update, and merge once (state for our state vector, then publish what the server lacks)
 * after a gap, a reconnection or a publish lost with the connection. Awareness (cursors,
 * names, colours) travels on the sibling channel `{channel}:awareness`.
 *
 * A refused edit (`rate_limited`, `too_large`, ...) would freeze the editor: every later
 * update of this Y.Doc builds on it, so the server refuses them all. Instead the document is
 * reloaded from the server's state (a new Y.Doc, so a new client id), `onReset` listeners
 * rebind to it and are told why. A merge that finds the server's state vector equal to ours
 * compares the texts' SHA-256 too, and reloads when they differ; a merge runs a few seconds
 * after the last remote change, so such a check is cheap and never far behind.
 *
 * Public names: `SharedText`, `DocumentState`, `updateMessage`, `updateOf`,
 * `awarenessMessage`, `awarenessOf`, `AWARENESS_SUFFIX`.
 *
 * A cursor's name is the verified display name of whoever published its awareness state
 * (`sender_name`), the name the presence chips and Chat show, never the one in the state.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { digest } from 'lib0/hash/sha256';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';

import type { ChannelEvent, ConnectionState, RealtimeClientLike } from '../client/index.js';
import { RealtimeError } from '../client/errors.js';
import { decodeBase64, encodeBase64 } from '../client/protocol.js';
import { stampAwareness } from './awareness-names.js';
import { serverSettings } from '../server.js';

export const AWARENESS_SUFFIX = ':awareness';
/** The end of the server's refusal of an update that builds on one it has not received. */
const MERGE_FIRST = 'merge first';
const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
const SYNC_STEP2 = 1;
const SYNC_UPDATE = 2;
/** The origin of changes that came from the channel: they are not published again. */
const REMOTE = 'jupyter-realtime:remote';

/** What `GET realtime/api/documents/{channel}` answers. */
export interface DocumentState {
  channel: string;
  epoch: string;
  offset: number;
  update_b64: string;
  state_vector_b64: string;
  text_sha256?: string;
  max_message_size?: number;
  writable: boolean;
  user: { user: string; name: string; color: string | null };
}

/** A Yjs update as the sync message published on a document channel. */
export function updateMessage(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_SYNC);
  encoding.writeVarUint(encoder, SYNC_UPDATE);
  encoding.writeVarUint8Array(encoder, update);
  return encoding.toUint8Array(encoder);
}

/** The update in a document channel's publication; null for anything else. */
export function updateOf(data: unknown): Uint8Array | null {
  if (!(data instanceof Uint8Array) || data.length < 3) {
    return null;
  }
  try {
    const decoder = decoding.createDecoder(data);
    const type = decoding.readVarUint(decoder);
    const sync = decoding.readVarUint(decoder);
    if (type !== MESSAGE_SYNC || (sync !== SYNC_UPDATE && sync !== SYNC_STEP2)) {
      return null;
    }
    return decoding.readVarUint8Array(decoder);
  } catch {
    return null;
  }
}

export function awarenessMessage(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_AWARENESS);
  encoding.writeVarUint8Array(encoder, update);
  return encoding.toUint8Array(encoder);
}

export function awarenessOf(data: unknown): Uint8Array | null {
  if (!(data instanceof Uint8Array) || data.length < 2) {
    return null;
  }
  try {
    const decoder = decoding.createDecoder(data);
    if (decoding.readVarUint(decoder) !== MESSAGE_AWARENESS) {
      return null;
    }
    return decoding.readVarUint8Array(decoder);
  } catch {
    return null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Hex SHA-256 of a text's UTF-8, as the server computes `text_sha256`. */
export function textSha256(text: string): string {
  return Array.from(digest(new TextEncoder().encode(text)), (b: number) =>
    b.toString(16).padStart(2, '0')
  ).join('');
}

function sameStateVector(a: Uint8Array, b: Uint8Array): boolean {
  const x = Y.decodeStateVector(a);
  const y = Y.decodeStateVector(b);
  if (x.size !== y.size) {
    return false;
  }
  for (const [client, clock] of x) {
    if (y.get(client) !== clock) {
      return false;
    }
  }
  return true;
}

/** Milliseconds after the last remote change before a merge checks convergence. */
const CHECK_AFTER = 3000;

/** The shared text of one channel on one page. */
export class SharedText {
  /** The document: replaced by a new one when an edit was refused (see `onReset`). */
  doc = new Y.Doc();
  text: Y.Text = this.doc.getText('source');
  /** Called with the reason after the document was reloaded from the server's state. */
  readonly onReset: Array<(reason: string) => void> = [];
  /** How many times the document was reloaded, and why the last time. */
  resets = 0;
  refusal: string | null = null;
  private resyncing: Promise<void> | null = null;
  private checkTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly onUpdate = (update: Uint8Array, origin: unknown, doc: Y.Doc): void => {
    if (origin !== REMOTE && doc === this.doc) {
      this.publish(updateMessage(update));
    }
  };
  readonly awareness: awarenessProtocol.Awareness;
  readonly awarenessChannel: string;
  writable = false;
  /** The server's limit of one publication (0: unknown): a larger edit is refused here. */
  maxMessageSize = 0;
  user: DocumentState['user'] | null = null;
  /** How many merges ran (for tests and the status line). */
  merges = 0;
  private merging: Promise<void> | null = null;
  private mergeAgain = false;
  private down = false;
  private disposed = false;
  private stopState: (() => void) | null = null;
  private readonly onDoc = (event: ChannelEvent): void => this.docEvent(event);
  private readonly onAwareness = (event: ChannelEvent): void => this.awarenessEvent(event);
  private readonly onUnload = (): void => this.leave();

  constructor(
    private readonly client: RealtimeClientLike,
    readonly channel: string
  ) {
    this.awareness = new awarenessProtocol.Awareness(this.doc);
    this.awarenessChannel = channel + AWARENESS_SUFFIX;
  }

  /** Load the state, subscribe after its position, and start awareness. */
  async start(): Promise<void> {
    const state = await this.fetchState(null);
    Y.applyUpdate(this.doc, decodeBase64(state.update_b64), REMOTE);
    this.doc.on('update', this.onUpdate);
    await this.client.subscribe(this.channel, this.onDoc, {
      since: { epoch: state.epoch, offset: state.offset }
    });
    // The page may have been subscribed already (another view): then the replay from our
    // position was not ours to ask for. A merge fetches only what we lack.
    void this.merge();
    this.stopState = this.client.on('state', s => this.connectionState(s));
    this.startAwareness(state);
  }

  private startAwareness(state: DocumentState): void {
    const color = state.user.color || '#1f77b4';
    this.awareness.setLocalStateField('user', {
      name: state.user.name || state.user.user,
      color,
      colorLight: `color-mix(in srgb, ${color} 25%, transparent)`
    });
    this.awareness.on(
      'update',
      (
        changes: { added: number[]; updated: number[]; removed: number[] },
        origin: unknown
      ) => {
        if (origin === REMOTE || !this.writable) {
          return;
        }
        const clients = [...changes.added, ...changes.updated, ...changes.removed];
        this.publishAwareness(clients);
      }
    );
    this.client
      .subscribe(this.awarenessChannel, this.onAwareness)
      .then(() => this.publishAwareness([this.awareness.clientID]))
      .catch(err => console.debug(`jupyter-realtime: no awareness on ${this.channel}`, err));
    window.addEventListener('beforeunload', this.onUnload);
  }

  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    if (this.checkTimer !== null) {
      clearTimeout(this.checkTimer);
    }
    this.leave();
    window.removeEventListener('beforeunload', this.onUnload);
    this.stopState?.();
    void this.client.unsubscribe(this.channel, this.onDoc);
    void this.client.unsubscribe(this.awarenessChannel, this.onAwareness);
    this.awareness.destroy();
    this.doc.destroy();
  }

  /** Tell the others this editor is gone (its cursor disappears at once). */
  private leave(): void {
    awarenessProtocol.removeAwarenessStates(this.awareness, [this.awareness.clientID], 'local');
  }

  private publish(message: Uint8Array): void {
    if (!this.writable) {
      return;
    }
    const doc = this.doc;
    if (this.maxMessageSize > 0 && message.length > this.maxMessageSize) {
      // never sent: refused as the server would (and a frame that large could close a socket)
      void this.resync(
        `too_large: an edit of ${message.length} bytes exceeds the limit of ` +
          `${this.maxMessageSize} bytes`
      );
      return;
    }
    this.client.publish(this.channel, message).catch(err => {
      if (!(err instanceof RealtimeError) || err.code === 'unavailable' || err.message.includes(MERGE_FIRST)) {
        // lost with the connection, or sent before one that was: merge once (a resync
        // would drop the edits the server has not received)
        void this.merge();
      } else if (doc === this.doc) {
        // refused: every later update of this doc builds on it; reload the server's
        void this.resync(`${err.code}: ${err.message}`);
      }
    });
  }

  /**
   * Drop this document for the server's: a new Y.Doc from the server's whole state (the
   * refused edit and everything built on it are undone here), then a merge for what was
   * published meanwhile. Concurrent calls share one reload.
   */
  resync(reason: string): Promise<void> {
    if (this.resyncing !== null) {
      return this.resyncing;
    }
    this.resyncing = (async () => {
      console.warn(`jupyter-realtime: ${this.channel} reloaded from the server: ${reason}`);
      const state = await this.fetchState(null);
      if (this.disposed) {
        return;
      }
      const doc = new Y.Doc();
      Y.applyUpdate(doc, decodeBase64(state.update_b64), REMOTE);
      this.doc.off('update', this.onUpdate);
      this.doc = doc;
      this.text = doc.getText('source');
      doc.on('update', this.onUpdate);
      this.resets += 1;
      this.refusal = reason;
      for (const listener of [...this.onReset]) {
        try {
          listener(reason);
        } catch (err) {
          console.error('jupyter-realtime: a shared cell listener failed', err);
        }
      }
    })().finally(() => {
      this.resyncing = null;
    });
    return this.resyncing.then(() => this.merge());
  }

  private publishAwareness(clients: number[]): void {
    if (!this.writable || clients.length === 0) {
      return;
    }
    const update = awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients);
    this.client.publish(this.awarenessChannel, awarenessMessage(update)).catch(() => undefined);
  }

  private docEvent(event: ChannelEvent): void {
    if (event.type === 'publication') {
      const update = updateOf(event.data);
      if (update !== null) {
        Y.applyUpdate(this.doc, update, REMOTE);
        this.checkSoon();
      }
    } else if (event.type === 'gap') {
      void this.merge();
    }
  }

  /** A merge (which checks convergence) once remote changes have paused. */
  private checkSoon(): void {
    if (this.checkTimer !== null) {
      clearTimeout(this.checkTimer);
    }
    this.checkTimer = setTimeout(() => {
      this.checkTimer = null;
      if (!this.disposed) {
        void this.merge().catch(() => undefined);
      }
    }, CHECK_AFTER);
  }

  private awarenessEvent(event: ChannelEvent): void {
    if (event.type !== 'publication') {
      return;
    }
    const received = awarenessOf(event.data);
    const update =
      received === null ? null : stampAwareness(received, event.senderName || event.sender || '?');
    if (update === null) {
      return;
    }
    const before = new Set(this.awareness.getStates().keys());
    awarenessProtocol.applyAwarenessUpdate(this.awareness, update, REMOTE);
    const states = this.awareness.getStates();
    if ([...states.keys()].some(id => !before.has(id))) {
      // someone new: show them our cursor now rather than at the next renewal
      this.publishAwareness([this.awareness.clientID]);
    }
  }

  private connectionState(state: ConnectionState): void {
    if (state.state === 'connected') {
      if (this.down) {
        this.down = false;
        void this.merge();
      }
    } else if (state.state !== 'connecting') {
      this.down = true;
    }
  }

  /** Take what the server has that we lack, then publish what it lacks, once. */
  merge(): Promise<void> {
    if (this.merging !== null) {
      this.mergeAgain = true;
      return this.merging;
    }
    this.merging = (async () => {
      try {
        do {
          this.mergeAgain = false;
          await this.mergeOnce();
        } while (this.mergeAgain && !this.disposed);
      } finally {
        this.merging = null;
      }
    })();
    return this.merging;
  }

  private async mergeOnce(): Promise<void> {
    const state = await this.fetchState(Y.encodeStateVector(this.doc));
    if (this.disposed) {
      return;
    }
    Y.applyUpdate(this.doc, decodeBase64(state.update_b64), REMOTE);
    const serverState = decodeBase64(state.state_vector_b64);
    const missing = Y.encodeStateAsUpdate(this.doc, serverState);
    this.merges += 1;
    if (
      state.text_sha256 &&
      sameStateVector(serverState, Y.encodeStateVector(this.doc)) &&
      textSha256(this.text.toString()) !== state.text_sha256
    ) {
      void this.resync('the text differed from the server\'s');
      return;
    }
    if (missing.length > 2) {
      this.publish(updateMessage(missing));
    }
  }

  /** The document's state (only what `stateVector` lacks), retried while offline. */
  private async fetchState(stateVector: Uint8Array | null): Promise<DocumentState> {
    const settings = serverSettings();
    let url = URLExt.join(
      settings.baseUrl,
      'realtime/api/documents',
      encodeURIComponent(this.channel)
    );
    if (stateVector !== null) {
      url += '?state_vector=' + encodeURIComponent(encodeBase64(stateVector));
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await ServerConnection.makeRequest(url, {}, settings);
        if (response.ok) {
          const state = (await response.json()) as DocumentState;
          this.writable = state.writable;
          this.user = state.user;
          this.maxMessageSize = state.max_message_size ?? 0;
          return state;
        }
        if (response.status < 500 && response.status !== 429) {
          throw new Error(`${response.status}: ${await response.text()}`);
        }
      } catch (err) {
        if (err instanceof Error && /^\d{3}:/.test(err.message)) {
          throw err;
        }
      }
      if (this.disposed) {
        throw new Error('disposed');
      }
      await sleep(Math.min(200 * 2 ** attempt, 3000));
    }
  }
}
