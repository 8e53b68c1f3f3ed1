/**
 * The page's realtime connections: one shared `RealtimeClient` per page (every widget view
 * and the status bar use it), plus one per forced transport list for views that ask for
 * a specific transport (the transports demo). Connected lazily, on first use, to the
 * page's own Jupyter server with its credentials (`ServerConnection.makeSettings()`).
 *
 * Public names: `sharedClient`, `clientFor`, `describeState`, `onSharedClient`.
 */
import { ServerConnection } from '@jupyterlab/services';

import {
  RealtimeClient,
  TRANSPORTS,
  connectShared,
  type ConnectionState,
  type RealtimeClientLike,
  type TransportName
} from './client/index.js';

const clients = new Map<string, RealtimeClientLike>();
const created = new Set<(client: RealtimeClientLike) => void>();

/** Short transport names as the server spells them (`RealtimeApp.transports`). */
export const SHORT: Record<TransportName, string> = {
  websocket: 'ws',
  sse: 'sse',
  stream: 'stream',
  poll: 'poll'
};

function normalize(transports: readonly string[]): TransportName[] {
  const wanted = new Set(transports.map(t => (t === 'ws' ? 'websocket' : t)));
  return TRANSPORTS.filter(name => wanted.has(name));
}

/**
 * The client for `transports` (names as `websocket`/`ws`, `sse`, `stream`, `poll`); an
 * empty list is the page's shared client, allowed every transport. The shared client is
 * shared between the tabs of this origin too (`connectShared`: one leader tab holds the
 * connection), so open tabs do not use up the browser's six HTTP/1.1 connections.
 */
export function clientFor(transports: readonly string[] = []): RealtimeClientLike {
  const allowed = normalize(transports);
  const key = allowed.length === 0 ? '' : allowed.join(',');
  let client = clients.get(key);
  if (client === undefined) {
    const settings = ServerConnection.makeSettings();
    if (key === '') {
      client = connectShared(settings.baseUrl, settings.token);
    } else {
      const own = new RealtimeClient({ transports: allowed });
      own.connect(settings.baseUrl, settings.token);
      client = own;
    }
    clients.set(key, client);
    if (key === '') {
      created.forEach(callback => callback(client as RealtimeClientLike));
    }
  }
  return client;
}

/** The page's shared client (connects it if nothing has yet). */
export function sharedClient(): RealtimeClientLike {
  return clientFor([]);
}

/** Call `callback` with the shared client once it exists (at once if it does). */
export function onSharedClient(callback: (client: RealtimeClientLike) => void): void {
  const client = clients.get('');
  if (client) {
    callback(client);
  } else {
    created.add(callback);
  }
}

/** A short label (`live · ws`) and a longer description of a connection state. */
export function describeState(state: ConnectionState): { label: string; title: string } {
  switch (state.state) {
    case 'connecting':
      return { label: 'connecting', title: 'Connecting to the realtime hub' };
    case 'connected':
      return {
        label: `live · ${SHORT[state.transport]}`,
        title: `Live over ${state.transport}`
      };
    case 'reconnecting':
      return {
        label: 'reconnecting',
        title: `Reconnecting (attempt ${state.attempt}, in ${Math.round(state.delay)} ms): ${state.reason}`
      };
    default:
      return { label: 'offline', title: `Disconnected: ${state.reason}` };
  }
}
