/**
 * The page's connections (`pool.ts`): leased, shared by key, closed after the last user
 * lets go (unless one comes back in the grace period); and the status bar's words for
 * their states (`states.ts`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { ConnectionState, RealtimeClientLike, TransportName } from '../client/index.js';
import { ClientPool } from '../pool.js';
import { statusText, summarize } from '../states.js';

class FakeClient {
  state: ConnectionState = { state: 'connecting' };
  closed = false;
  private readonly listeners = new Set<(state: ConnectionState) => void>();
  constructor(readonly transports: readonly TransportName[]) {}
  on(_event: 'state', listener: (state: ConnectionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  set(state: ConnectionState): void {
    this.state = state;
    this.listeners.forEach(listener => listener(state));
  }
  close(): void {
    this.closed = true;
  }
}

function pool(graceMs = 20): { pool: ClientPool; made: FakeClient[]; changes: () => number } {
  const made: FakeClient[] = [];
  const p = new ClientPool({
    create: transports => {
      const client = new FakeClient(transports);
      made.push(client);
      return client as unknown as RealtimeClientLike;
    },
    graceMs
  });
  let count = 0;
  p.onChange(() => count++);
  return { pool: p, made, changes: () => count };
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

test('one client per transport list, held while leased, closed after the grace period', async () => {
  const { pool: p, made, changes } = pool();
  const a = p.acquire([]);
  const b = p.acquire([]);
  const sse = p.acquire(['sse']);
  assert.equal(made.length, 2);
  assert.equal(a.client, b.client);
  assert.deepEqual(p.entries.map(e => e.key), ['', 'sse']);
  assert.equal(changes(), 2);

  made[1].set({ state: 'connected', transport: 'sse' });
  assert.equal(changes(), 3); // a state change of any connection is a change of the page's

  a.release();
  a.release(); // twice is once
  sse.release();
  await sleep(40);
  assert.deepEqual(p.entries.map(e => e.key), ['']); // b still holds the shared one
  assert.deepEqual([made[0].closed, made[1].closed], [false, true]);
  b.release();
  await sleep(40);
  assert.deepEqual(p.entries, []);
  assert.equal(made[0].closed, true);
  made[0].set({ state: 'disconnected', reason: 'closed' });
  assert.equal(changes(), 5); // a closed client is no longer followed
});

test('a user that comes back within the grace period keeps the connection', async () => {
  const { pool: p, made } = pool(30);
  p.acquire(['websocket']).release();
  await sleep(5);
  const again = p.acquire(['websocket']);
  await sleep(50);
  assert.equal(made.length, 1);
  assert.equal(made[0].closed, false);
  again.release();
  await sleep(50);
  assert.equal(made[0].closed, true);
  p.acquire(['websocket']);
  assert.equal(made.length, 2); // a new connection after the old one closed
});

test('statusText: idle, one connection as its badge, several counted with their transports', () => {
  const ws: ConnectionState = { state: 'connected', transport: 'websocket' };
  const poll: ConnectionState = { state: 'connected', transport: 'poll' };
  const sse: ConnectionState = { state: 'connected', transport: 'sse' };
  const again: ConnectionState = { state: 'reconnecting', attempt: 1, delay: 500, reason: 'x' };
  assert.equal(statusText([]), 'idle');
  assert.equal(statusText([ws]), 'live · ws');
  assert.equal(statusText([again]), 'reconnecting');
  assert.equal(statusText([poll, ws, sse, ws]), '4 live · ws, sse, poll');
  assert.equal(statusText([ws, again]), '1/2 live · ws');
  assert.equal(statusText([{ state: 'connecting' }, again]), '0/2 live');
  assert.deepEqual(summarize([ws, again, { state: 'connecting' }]), {
    state: 'reconnecting',
    total: 3,
    live: 1,
    transports: ['websocket']
  });
  assert.equal(summarize([]).state, 'idle');
});
