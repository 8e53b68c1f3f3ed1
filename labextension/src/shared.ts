/**
 * The page's realtime connections: one shared client per page for the views that leave
 * the transport to the client (shared with the page's other tabs too), plus one per forced
 * transport list for views that ask for specific transports (the transports demo). Each
 * is connected on first use, to the page's realtime server with its credentials
 * (`server.ts`: the page's own Jupyter server unless the page config names another), and
 * closed shortly after its last user lets it go
 * (`pool.ts`). The status bar follows every one of them (`connections`, `onConnections`).
 *
 * Public names: `acquireClient`, `connections`, `onConnections`, `describeState`.
 */
import {
  RealtimeClient,
  TRANSPORTS,
  connectShared,
  type RealtimeClientLike,
  type TransportName
} from './client/index.js';
import { ClientPool, type Lease, type PoolEntry } from './pool.js';
import { checkServer, realtimeServer } from './server.js';

export { describeState } from './states.js';

function normalize(transports: readonly string[]): TransportName[] {
  const wanted = new Set(transports.map(t => (t === 'ws' ? 'websocket' : t)));
  return TRANSPORTS.filter(name => wanted.has(name));
}

function create(allowed: readonly TransportName[]): RealtimeClientLike {
  const { baseUrl, token } = realtimeServer();
  let client: RealtimeClientLike;
  if (allowed.length === 0) {
    // shared between the tabs of this origin (`connectShared`: one leader tab holds the
    // connection), so open tabs do not use up the browser's six HTTP/1.1 connections
    client = connectShared(baseUrl, token);
  } else {
    const own = new RealtimeClient({ transports: [...allowed] });
    own.connect(baseUrl, token);
    client = own;
  }
  // no realtime server there: stop trying (the views say so, see `widgets/badge.ts`)
  void checkServer().then(problem => {
    if (problem !== null) {
      client.close();
    }
  });
  return client;
}

const pool = new ClientPool({ create });

/**
 * Lease the client for `transports` (names as `websocket`/`ws`, `sse`, `stream`, `poll`);
 * an empty list is the page's shared client, allowed every transport. Release the lease
 * when the view goes away.
 */
export function acquireClient(transports: readonly string[] = []): Lease {
  return pool.acquire(normalize(transports));
}

/** The page's open realtime connections. */
export function connections(): PoolEntry[] {
  return pool.entries;
}

/** Call `listener` whenever a connection of the page opens, closes, or changes state. */
export function onConnections(listener: () => void): () => void {
  return pool.onChange(listener);
}
