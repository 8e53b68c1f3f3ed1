/** The client over a fake transport: resubscribe with `since`, dedupe, gaps, lost replies. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FakeTransports, connectFake, summary, tick } from './fake-transports.js';

const setup = () => connectFake(new FakeTransports(), ['websocket']);

test('after a reconnection the client resubscribes from its last position', async () => {
  const { server, client, events, handler } = setup();
  await tick();
  const subscribed = client.subscribe('c', handler);
  await tick();
  assert.deepEqual(server.last.sent, [{ op: 'subscribe', id: 1, channel: 'c' }]);
  server.push({ id: 1, result: { epoch: 'e1', offset: 3, recovered: true } });
  assert.deepEqual(await subscribed, { epoch: 'e1', offset: 3, recovered: true });
  server.pub(4);
  server.pub(5);
  server.last.options.handlers.close({ code: 1001, reason: 'shutdown' });
  await tick(20);
  assert.equal(server.transports.length, 2);
  assert.deepEqual(server.last.sent, [
    { op: 'subscribe', id: 2, channel: 'c', since: { epoch: 'e1', offset: 5 } }
  ]);
  server.pub(5); // an overlapping replay is dropped
  server.pub(6);
  server.push({ id: 2, result: { epoch: 'e1', offset: 6, recovered: true } });
  assert.deepEqual(summary(events), [4, 5, 6]);
  client.close();
});

test('an unrecoverable resume reaches the handlers as one gap', async () => {
  const { server, client, events, handler } = setup();
  await tick();
  const subscribed = client.subscribe('c', handler, { since: { epoch: 'e1', offset: 2 } });
  await tick();
  assert.deepEqual(server.last.sent[0], {
    op: 'subscribe',
    id: 1,
    channel: 'c',
    since: { epoch: 'e1', offset: 2 }
  });
  server.push({ event: 'gap', channel: 'c', epoch: 'e2', offset: 0 });
  server.pub(1, 'e2');
  server.push({ id: 1, result: { epoch: 'e2', offset: 1, recovered: false } });
  assert.deepEqual(await subscribed, { epoch: 'e2', offset: 1, recovered: false });
  assert.deepEqual(summary(events), ['gap@0', 1]);
  client.close();
});

test('a reply lost with the connection rejects; an unsent command waits for the next one', async () => {
  const { server, client } = setup();
  await tick();
  const lost = client.publish('c', 1);
  await tick();
  server.last.options.handlers.close({ code: 0, reason: 'network' });
  await assert.rejects(lost, { code: 'unavailable' });
  const later = client.publish('c', 2); // sent once the connection is back
  await tick(20);
  assert.deepEqual(server.last.sent, [{ op: 'publish', id: 2, channel: 'c', data: 2 }]);
  server.push({ id: 2, result: { epoch: 'e1', offset: 9 } });
  assert.deepEqual(await later, { epoch: 'e1', offset: 9 });
  client.close();
});

test('a terminal close stops the client and announces it', async () => {
  const { server, client } = setup();
  const states: string[] = [];
  client.on('state', s => states.push(s.state));
  await tick();
  server.last.options.handlers.close({ code: 4500, reason: 'forbidden' });
  await tick(20);
  assert.equal(server.transports.length, 1);
  assert.deepEqual(states, ['connected', 'disconnected']);
  assert.deepEqual(client.state, { state: 'disconnected', reason: 'forbidden' });
});

test('a bad channel name is refused locally; a handler that throws does not stop the others', async () => {
  const { server, client, events, handler } = setup();
  await assert.rejects(client.subscribe('a/b', handler), { code: 'bad_request' });
  await tick();
  const first = client.subscribe('c', () => {
    throw new Error('boom');
  });
  const second = client.subscribe('c', handler);
  await tick();
  server.push({ id: 1, result: { epoch: 'e1', offset: 0, recovered: true } });
  await Promise.all([first, second]);
  const error = console.error;
  console.error = () => undefined;
  server.pub(1);
  console.error = error;
  assert.deepEqual(summary(events), [1]);
  client.close();
});
