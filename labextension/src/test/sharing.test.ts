/**
 * Tab sharing over Node's `BroadcastChannel`, a fake lock manager and an in-memory server:
 * one connection for every tab, fan-out, request correlation, leader change without loss
 * or duplicates, catch-up of a tab that is behind, follower bookkeeping.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { ChannelEvent, ChannelHandler } from '../client/client.js';
import type { ConnectionState } from '../client/connection.js';
import type { SharableClient } from '../client/leader.js';
import type { Position, PublicationFrame } from '../client/protocol.js';
import {
  type BroadcastChannelLike,
  type LockManagerLike,
  type SharedClient,
  connectShared
} from '../client/sharing.js';

const tick = (ms = 5) => new Promise(resolve => setTimeout(resolve, ms));

async function until(check: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await tick(2);
  }
}

/** Web Locks, exclusive mode only: one holder per name, a FIFO queue, abortable waits. */
class FakeLocks implements LockManagerLike {
  private readonly held = new Set<string>();
  private readonly queues = new Map<string, (() => void)[]>();

  request(name: string, options: { signal?: AbortSignal }, callback: (lock: unknown) => unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const grant = () => {
        this.held.add(name);
        Promise.resolve()
          .then(() => callback({ name }))
          .then(resolve, reject)
          .finally(() => {
            this.held.delete(name);
            this.queues.get(name)?.shift()?.();
          });
      };
      if (!this.held.has(name)) {
        grant();
        return;
      }
      const queue = this.queues.get(name) ?? [];
      this.queues.set(name, queue);
      queue.push(grant);
      options.signal?.addEventListener('abort', () => {
        const i = queue.indexOf(grant);
        if (i >= 0) {
          queue.splice(i, 1);
          reject(new Error('AbortError'));
        }
      });
    });
  }
}

/** A channel server in memory, and the connections open to it. */
class FakeServer {
  readonly log = new Map<string, PublicationFrame[]>();
  readonly connections: FakeConnection[] = [];
  epoch = 'e1';
  /** History answers cut after this many publications say `more: true` (a cut by bytes). */
  historyCut = Infinity;

  connect = (): SharableClient => {
    const connection = new FakeConnection(this);
    this.connections.push(connection);
    return connection;
  };

  get open(): FakeConnection[] {
    return this.connections.filter(c => !c.closed);
  }

  subscribers(channel: string): number {
    return this.open.filter(c => c.handlers.has(channel)).length;
  }

  publish(channel: string, data: unknown): Position {
    const log = this.log.get(channel) ?? [];
    this.log.set(channel, log);
    const frame: PublicationFrame = { channel, epoch: this.epoch, offset: log.length + 1, data, ts: 0, sender: 'u' };
    log.push(frame);
    for (const connection of this.open) {
      const handler = connection.handlers.get(channel);
      if (handler) {
        queueMicrotask(() => handler(FakeServer.event(frame)));
      }
    }
    return { epoch: frame.epoch, offset: frame.offset };
  }

  after(channel: string, since?: Position): PublicationFrame[] {
    const log = this.log.get(channel) ?? [];
    return since ? log.filter(p => p.offset > since.offset) : [];
  }

  static event(p: PublicationFrame): ChannelEvent {
    return { type: 'publication', channel: p.channel, epoch: p.epoch, offset: p.offset, data: p.data, ts: p.ts, sender: p.sender, senderName: p.sender_name ?? null };
  }
}

class FakeConnection implements SharableClient {
  readonly handlers = new Map<string, ChannelHandler>();
  closed = false;
  state: ConnectionState = { state: 'connected', transport: 'websocket' };

  constructor(private readonly server: FakeServer) {}

  on(): () => void {
    return () => undefined;
  }

  async subscribe(channel: string, handler: ChannelHandler, options: { since?: Position } = {}) {
    await tick(1);
    this.handlers.set(channel, handler);
    for (const p of this.server.after(channel, options.since)) {
      handler(FakeServer.event(p));
    }
    const offset = this.server.log.get(channel)?.length ?? 0;
    return { epoch: this.server.epoch, offset, recovered: true };
  }

  async unsubscribe(channel: string) {
    this.handlers.delete(channel);
  }

  async publish(channel: string, data: unknown) {
    await tick(1);
    return this.server.publish(channel, data);
  }

  async history(channel: string, options: { since?: Position; limit?: number } = {}) {
    const limit = options.limit ?? 100;
    const all = options.since
      ? this.server.after(channel, options.since).slice(0, limit)
      : (this.server.log.get(channel) ?? []).slice(-limit);
    const publications = all.slice(0, this.server.historyCut);
    const more = publications.length < all.length;
    const offset = this.server.log.get(channel)?.length ?? 0;
    return { publications, epoch: this.server.epoch, offset, recovered: true, ...(more ? { more } : {}) };
  }

  async presence() {
    return { clients: [] };
  }

  close(): void {
    this.closed = true;
    this.handlers.clear();
  }
}

function world() {
  const server = new FakeServer();
  const locks = new FakeLocks();
  const channels: BroadcastChannelLike[] = [];
  const open = () =>
    connectShared('http://server/base/', 't', {
      locks,
      createClient: server.connect,
      broadcastChannel: name => {
        const channel = new BroadcastChannel(name) as unknown as BroadcastChannelLike;
        channels.push(channel);
        return channel;
      }
    }) as SharedClient;
  return { server, open, channels };
}

function recorder() {
  const events: ChannelEvent[] = [];
  const handler = (e: ChannelEvent) => events.push(e);
  const offsets = () => events.map(e => (e.type === 'publication' ? e.offset : `${e.type}@${'offset' in e ? e.offset : ''}`));
  return { events, handler, offsets };
}

test('three tabs share one connection and each gets every publication once, in order', async () => {
  const { server, open } = world();
  const tabs = [open(), open(), open()];
  const recs = tabs.map(() => recorder());
  try {
    await until(() => tabs.filter(t => t.isLeader).length === 1, 'a leader');
    assert.equal(tabs[0].isLeader, true);
    await Promise.all(tabs.map((t, i) => t.subscribe('c', recs[i].handler)));
    assert.equal(server.connections.length, 1);
    assert.equal(server.subscribers('c'), 1);
    for (let i = 0; i < 5; i++) {
      await tabs[i % 3].publish('c', i);
    }
    server.publish('c', 'rest');
    await until(() => recs.every(r => r.events.length === 6), 'fan-out');
    for (const rec of recs) {
      assert.deepEqual(rec.offsets(), [1, 2, 3, 4, 5, 6]);
    }
    assert.equal(tabs[1].state.state, 'connected');
    const history = await tabs[2].history('c', { limit: 2 });
    assert.equal(history.publications.length, 2);
  } finally {
    tabs.forEach(t => t.close());
  }
});

test('when the leader closes another tab leads and nothing is lost or repeated', async () => {
  const { server, open } = world();
  const tabs = [open(), open(), open()];
  const recs = tabs.map(() => recorder());
  try {
    await until(() => tabs[0].isLeader, 'a leader');
    await Promise.all(tabs.map((t, i) => t.subscribe('c', recs[i].handler)));
    server.publish('c', 1);
    server.publish('c', 2);
    await until(() => recs.every(r => r.events.length === 2), 'first publications');
    tabs[0].close();
    // Published while no tab holds the connection: replayed to the new leader.
    server.publish('c', 3);
    server.publish('c', 4);
    await until(() => tabs[1].isLeader || tabs[2].isLeader, 'a new leader');
    await until(() => server.subscribers('c') === 1, 'the new subscription');
    server.publish('c', 5);
    await until(() => recs.slice(1).every(r => r.events.length === 5), 'all publications');
    await tick(20);
    for (const rec of recs.slice(1)) {
      assert.deepEqual(rec.offsets(), [1, 2, 3, 4, 5]);
    }
    assert.deepEqual(recs[0].offsets(), [1, 2]);
    assert.equal(server.open.length, 1);
  } finally {
    tabs.forEach(t => t.close());
  }
});

/** Two tabs; the leader `a` follows channel c, in which `count` publications were made. */
async function leaderFollowing(count: number) {
  const { server, open } = world();
  const a = open();
  const b = open();
  const ra = recorder();
  const rb = recorder();
  await until(() => a.isLeader, 'a leader');
  await a.subscribe('c', ra.handler);
  for (let i = 0; i < count; i++) {
    server.publish('c', i);
  }
  await until(() => ra.events.length === count, 'publications');
  return { server, open, a, b, rb };
}

test('a tab that resumes from an earlier position gets the rest from history', async () => {
  const { server, open, a, b, rb } = await leaderFollowing(5);
  try {
    await b.subscribe('c', rb.handler, { since: { epoch: 'e1', offset: 2 } });
    server.publish('c', 'live');
    await until(() => rb.events.length === 4, 'catch-up and live');
    assert.deepEqual(rb.offsets(), [3, 4, 5, 6]);
    // From another epoch: a gap, then live publications.
    const rc = recorder();
    const c = open();
    await c.subscribe('d', rc.handler);
    await c.unsubscribe('d');
    await c.subscribe('c', rc.handler, { since: { epoch: 'old', offset: 9 } });
    assert.deepEqual(rc.offsets(), ['gap@6']);
    c.close();
  } finally {
    a.close();
    b.close();
  }
});

test('a catch-up follows history pages cut short by bytes (`more`) to the end', async () => {
  const { server, a, b, rb } = await leaderFollowing(50);
  try {
    server.historyCut = 7;
    const result = await b.subscribe('c', rb.handler, { since: { epoch: 'e1', offset: 2 } });
    assert.deepEqual(result, { epoch: 'e1', offset: 50, recovered: true });
    server.publish('c', 'live');
    await until(() => rb.events.length === 49, 'catch-up and live');
    assert.deepEqual(rb.offsets(), Array.from({ length: 49 }, (_, i) => i + 3));
  } finally {
    a.close();
    b.close();
  }
});

test('unsubscribing or closing while a subscribe waits for the leader rejects it', async () => {
  const { open } = world();
  const a = open();
  try {
    const waiting = a.subscribe('c', () => undefined); // no leader known yet: it waits
    const closing = a.subscribe('d', () => undefined);
    await a.unsubscribe('c');
    await assert.rejects(waiting, /unsubscribed from c before the subscription was confirmed/);
    a.close();
    await assert.rejects(closing, (e: { code?: string }) => e.code === 'unavailable');
  } finally {
    a.close();
  }
});

test('requests are answered to the tab that asked; errors keep their code', async () => {
  const { server, open } = world();
  const a = open();
  const b = open();
  try {
    await until(() => a.isLeader, 'a leader');
    const [pa, pb] = await Promise.all([b.publish('x', 'from b'), a.publish('x', 'from a')]);
    assert.deepEqual([pa.offset, pb.offset].sort(), [1, 2]);
    assert.deepEqual(await b.presence('x'), { clients: [] });
    await assert.rejects(b.subscribe('bad/name', () => undefined), { name: 'RealtimeError' });
    const bytes = new Uint8Array([1, 2, 3]);
    await b.publish('x', bytes);
    assert.deepEqual([...(server.log.get('x')![2].data as Uint8Array)], [1, 2, 3]);
  } finally {
    a.close();
    b.close();
  }
});

test('the connection leaves a channel when its last tab does, or closes', async () => {
  const { server, open } = world();
  const a = open();
  const b = open();
  const c = open();
  try {
    await until(() => a.isLeader, 'a leader');
    await b.subscribe('c', () => undefined);
    await c.subscribe('c', () => undefined);
    assert.equal(server.subscribers('c'), 1);
    await b.unsubscribe('c');
    await tick();
    assert.equal(server.subscribers('c'), 1);
    c.close();
    await until(() => server.subscribers('c') === 0, 'the channel released');
  } finally {
    a.close();
    b.close();
    c.close();
  }
});

test('a request the old leader did not answer rejects with unavailable; the next one runs', async () => {
  const { server, open } = world();
  const a = open();
  const b = open();
  try {
    await until(() => a.isLeader, 'a leader');
    await b.presence('x'); // b knows its leader
    const lost = b.publish('x', 'lost?');
    a.close();
    await assert.rejects(lost, (e: { code?: string }) => e.code === 'unavailable');
    await until(() => b.isLeader, 'b leads');
    assert.deepEqual(await b.publish('x', 'after'), { epoch: 'e1', offset: 1 });
    assert.equal(b.state.state, 'connected');
    assert.equal(server.open.length, 1);
  } finally {
    a.close();
    b.close();
  }
});
