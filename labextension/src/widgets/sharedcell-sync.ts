/**
 * A shared cell's Yjs document, synced over a realtime channel as docs/shared-cells.md
 * describes: load the state from `realtime/api/documents/{channel}`, subscribe with
 * `since` = the position it includes, publish each local edit as a y-protocols sync
 * update, and merge once (state for our state vector, then publish what the server lacks)
 * after a gap, a reconnection or a publish lost with the connection. Awareness (cursors,
 * names, colours) travels on the sibling channel `{channel}:awareness`.
 *
 * Public names: `SharedText`, `DocumentState`, `updateMessage`, `updateOf`,
 * `awarenessMessage`, `awarenessOf`, `AWARENESS_SUFFIX`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';

import type { ChannelEvent, ConnectionState, RealtimeClientLike } from '../client/index.js';
import { RealtimeError } from '../client/errors.js';
import { decodeBase64, encodeBase64 } from '../client/protocol.js';
import { serverSettings } from '../server.js';

export const AWARENESS_SUFFIX = ':awareness';
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

/** The shared text of one channel on one page. */
export class SharedText {
  readonly doc = new Y.Doc();
  readonly text: Y.Text = this.doc.getText('source');
  readonly awareness: awarenessProtocol.Awareness;
  readonly awarenessChannel: string;
  writable = false;
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
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE) {
        this.publish(updateMessage(update));
      }
    });
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
      .then(() => this.publishAwareness([this.doc.clientID]))
      .catch(err => console.debug(`jupyter-realtime: no awareness on ${this.channel}`, err));
    window.addEventListener('beforeunload', this.onUnload);
  }

  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
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
    awarenessProtocol.removeAwarenessStates(this.awareness, [this.doc.clientID], 'local');
  }

  private publish(message: Uint8Array): void {
    if (!this.writable) {
      return;
    }
    this.client.publish(this.channel, message).catch(err => {
      if (!(err instanceof RealtimeError) || err.code === 'unavailable') {
        void this.merge(); // lost with the connection: merge once
      } else {
        console.warn(`jupyter-realtime: an edit of ${this.channel} was refused`, err);
      }
    });
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
      }
    } else if (event.type === 'gap') {
      void this.merge();
    }
  }

  private awarenessEvent(event: ChannelEvent): void {
    if (event.type !== 'publication') {
      return;
    }
    const update = awarenessOf(event.data);
    if (update === null) {
      return;
    }
    const before = new Set(this.awareness.getStates().keys());
    awarenessProtocol.applyAwarenessUpdate(this.awareness, update, REMOTE);
    const states = this.awareness.getStates();
    if ([...states.keys()].some(id => !before.has(id))) {
      // someone new: show them our cursor now rather than at the next renewal
      this.publishAwareness([this.doc.clientID]);
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
    const missing = Y.encodeStateAsUpdate(this.doc, decodeBase64(state.state_vector_b64));
    this.merges += 1;
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
