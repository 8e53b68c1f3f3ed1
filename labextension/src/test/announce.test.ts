/**
 * Subscribing over an HTTP session: the POST reply only acknowledges a subscribe and the
 * `subscribed` event on the downlink, behind the replay, carries the position. The reply
 * and the downlink arrive in either order; neither order may lose or repeat anything.
 * Also: an unsubscribe or a close while a subscribe is pending rejects it; a transport
 * refused with `transport_disabled` right after opening loses no command.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { TransportName } from '../client/ladder.js';
import type { SubscribeResult } from '../client/protocol.js';
import { FakeTransports, connectFake, summary, tick, until } from './fake-transports.js';

class FakeSessions extends FakeTransports {
  ack(id: number, channel = 'c'): void {
    this.push({ id, result: { channel, announced: true } });
  }

  subscribed(offset: number, recovered = true, epoch = 'e1'): void {
    this.push({ event: 'subscribed', channel: 'c', epoch, offset, recovered });
  }
}

const setup = (transports: TransportName[] = ['sse']) => connectFake(new FakeSessions(), transports);

/** Record when a promise settles, without awaiting it. */
function watch<T>(promise: Promise<T>) {
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  promise.then(
    value => Object.assign(state, { value, settled: true }),
    error => Object.assign(state, { error, settled: true })
  );
  return state;
}

/** Subscribe with `since` offset 5 in e1 and return the subscribe command's id. */
async function resume(setupResult: ReturnType<typeof setup>) {
  const { server, client, handler } = setupResult;
  await tick();
  const subscribed = watch(client.subscribe('c', handler, { since: { epoch: 'e1', offset: 5 } }));
  await tick();
  assert.deepEqual(server.last.sent, [
    { op: 'subscribe', id: 1, channel: 'c', since: { epoch: 'e1', offset: 5 } }
  ]);
  return subscribed;
}

test('session: the acknowledgement before the replay moves nothing; the event confirms', async () => {
  const world = setup();
  const { server, client, events } = world;
  const subscribed = await resume(world);
  server.ack(1);
  await tick();
  assert.equal(subscribed.settled, false); // an acknowledgement is not the outcome
  server.pubs(6, 8);
  server.subscribed(8);
  await tick();
  assert.deepEqual(subscribed.value, { epoch: 'e1', offset: 8, recovered: true });
  server.pub(9);
  assert.deepEqual(summary(events), [6, 7, 8, 9]);
  client.close();
});

test('session: the replay and the event before the acknowledgement', async () => {
  const world = setup();
  const { server, client, events } = world;
  const subscribed = await resume(world);
  server.pubs(6, 8);
  server.subscribed(8);
  await tick();
  assert.deepEqual(subscribed.value, { epoch: 'e1', offset: 8, recovered: true });
  server.pub(9);
  server.ack(1); // late: changes nothing
  server.pub(10);
  await tick();
  assert.deepEqual(summary(events), [6, 7, 8, 9, 10]);
  client.close();
});

test('session: a resume whose acknowledgement beats the replay loses nothing (the old race)', async () => {
  const { server, client, events, handler } = setup();
  await tick();
  const first = client.subscribe('c', handler);
  await tick();
  server.ack(1);
  server.subscribed(0);
  await first;
  server.pubs(1, 5);
  server.last.options.handlers.close({ code: 0, reason: 'the server went away' });
  await until(
    () => server.transports.length === 2 && server.last.sent.length > 0,
    'the resume on a new transport'
  );
  assert.deepEqual(server.last.sent, [
    { op: 'subscribe', id: 2, channel: 'c', since: { epoch: 'e1', offset: 5 } }
  ]);
  // The POST answer comes first, then the downlink: 30 replayed, the position, live ones.
  server.ack(2);
  server.pubs(6, 35);
  server.subscribed(35);
  server.pubs(36, 40);
  const offsets = Array.from({ length: 40 }, (_, i) => i + 1);
  assert.deepEqual(summary(events), offsets);
  client.close();
});

test('session: a resume the server cannot recover reports one gap', async () => {
  const world = setup();
  const { server, client, events } = world;
  const subscribed = await resume(world);
  server.ack(1);
  server.push({ event: 'gap', channel: 'c', epoch: 'e2', offset: 3 });
  server.subscribed(3, false, 'e2');
  server.pub(4, 'e2');
  await tick();
  assert.deepEqual(subscribed.value, { epoch: 'e2', offset: 3, recovered: false });
  assert.deepEqual(summary(events), ['gap@3', 4]);
  client.close();
});

test('session: an error reply rejects the subscribe', async () => {
  const world = setup();
  const { server, client } = world;
  const subscribed = await resume(world);
  server.push({ id: 1, error: { code: 'forbidden', message: 'not yours' } });
  await tick();
  assert.equal((subscribed.error as { code?: string }).code, 'forbidden');
  client.close();
});

test('unsubscribing while a subscribe is pending rejects it; a stale event confirms nothing', async () => {
  const { server, client, events, handler } = setup();
  await tick();
  const first = watch(client.subscribe('c', handler));
  await tick();
  const left = client.unsubscribe('c'); // its reply comes below
  await tick();
  assert.equal(first.settled, true);
  assert.equal((first.error as { code?: string }).code, 'unavailable');
  assert.match(String(first.error), /unsubscribed from c before the subscription was confirmed/);
  const second = watch(client.subscribe('c', handler));
  await tick();
  assert.deepEqual(
    server.last.sent.map(c => [c.op, c.id]),
    [['subscribe', 1], ['unsubscribe', 2], ['subscribe', 3]]
  );
  server.ack(1);
  server.subscribed(4); // the first subscribe's outcome
  server.push({ id: 2, result: {} });
  await left;
  server.ack(3);
  await tick();
  assert.equal(second.settled, false);
  server.subscribed(6); // the second's
  server.pub(7);
  await tick();
  assert.deepEqual(second.value, { epoch: 'e1', offset: 6, recovered: true });
  assert.deepEqual(summary(events), [7]);
  client.close();
});

test('a subscribe the server answers with unavailable rejects; one lost with the connection is sent again', async () => {
  const { server, client, handler } = setup();
  await tick();
  const refused = watch(client.subscribe('c', handler));
  const kept = watch(client.subscribe('d', handler));
  await tick();
  server.push({ id: 1, error: { code: 'unavailable', message: 'the broker cannot be reached' } });
  await tick();
  assert.match(String(refused.error), /the broker cannot be reached/);
  const before = server.transports.length;
  server.last.options.handlers.close({ code: 0, reason: 'network' });
  await until(
    () => server.transports.length > before && server.last.sent.length > 0,
    'the resend on a new transport'
  );
  assert.equal(kept.settled, false);
  assert.deepEqual(server.last.sent, [{ op: 'subscribe', id: 3, channel: 'd' }]);
  server.ack(3, 'd');
  server.push({ event: 'subscribed', channel: 'd', epoch: 'e1', offset: 0, recovered: true });
  await tick();
  assert.deepEqual(kept.value, { epoch: 'e1', offset: 0, recovered: true });
  client.close();
});

test('closing the client rejects a pending subscribe', async () => {
  const { client, handler } = setup();
  await tick();
  const pending = watch(client.subscribe('c', handler));
  await tick();
  client.close();
  await tick();
  assert.equal((pending.error as { code?: string }).code, 'unavailable');
});

test('a WebSocket closed with transport_disabled right after opening loses no command', async () => {
  const { server, client } = setup(['websocket', 'poll']);
  const states: string[] = [];
  client.on('state', s => states.push(s.state === 'connected' ? `connected:${s.transport}` : s.state));
  await tick();
  const published = watch(client.publish('c', 1));
  await tick();
  assert.equal(server.last.name, 'websocket');
  assert.deepEqual(server.last.sent, [{ op: 'publish', id: 1, channel: 'c', data: 1 }]);
  server.last.options.handlers.close({ code: 4501, reason: 'transport_disabled' });
  await until(
    () => server.last.name === 'poll' && server.last.sent.length > 0,
    'the resend on the next transport'
  );
  assert.deepEqual(server.last.sent, [{ op: 'publish', id: 1, channel: 'c', data: 1 }]);
  server.push({ id: 1, result: { epoch: 'e1', offset: 1 } });
  await tick();
  assert.deepEqual(published.value, { epoch: 'e1', offset: 1 });
  assert.deepEqual(states, ['connected:websocket', 'connected:poll']);
  client.close();
});

test('a WebSocket closed with forbidden stops the client and fails what waits', async () => {
  const { server, client } = setup(['websocket', 'poll']);
  await tick();
  const published = watch(client.publish('c', 1));
  const subscribed = watch(client.subscribe('c', () => undefined) as Promise<SubscribeResult>);
  await tick();
  server.last.options.handlers.close({ code: 4500, reason: 'forbidden' });
  await tick(20);
  assert.equal(server.transports.length, 1);
  assert.deepEqual(client.state, { state: 'disconnected', reason: 'forbidden' });
  assert.equal((published.error as { code?: string }).code, 'unavailable');
  client.close();
  await tick();
  assert.equal((subscribed.error as { code?: string }).code, 'unavailable');
});
