import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TransportLadder } from '../client/ladder.js';

test('a round tries every transport best first, then waits', () => {
  const ladder = new TransportLadder();
  assert.deepEqual(ladder.start(), { transport: 'websocket', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'sse', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'stream', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'poll', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'websocket', wait: true });
});

test('the allowed transports keep the best-first order', () => {
  const ladder = new TransportLadder(['poll', 'sse']);
  assert.deepEqual(ladder.start(), { transport: 'sse', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'poll', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'sse', wait: true });
});

test('no known transport is an error', () => {
  assert.throws(() => new TransportLadder([]), /no known transport/);
});

test('a dropped connection retries the transport that worked, after a delay', () => {
  const ladder = new TransportLadder();
  ladder.start();
  ladder.openFailed();
  ladder.connected(); // sse
  assert.deepEqual(ladder.lost(), { transport: 'sse', wait: true });
  // and the next round starts from it, not from websocket
  assert.deepEqual(ladder.start(), { transport: 'sse', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'stream', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'poll', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'websocket', wait: false });
  assert.deepEqual(ladder.openFailed(), { transport: 'sse', wait: true });
});

test('a disabled transport is never tried again', () => {
  const ladder = new TransportLadder();
  ladder.start();
  assert.deepEqual(ladder.disable(), { transport: 'sse', wait: false });
  ladder.connected();
  assert.deepEqual(ladder.usable, ['sse', 'stream', 'poll']);
  assert.equal(ladder.upgradeCandidate(), null);
  ladder.openFailed();
  ladder.openFailed();
  assert.deepEqual(ladder.openFailed(), { transport: 'sse', wait: true });
});

test('disabling the last transport leaves nothing', () => {
  const ladder = new TransportLadder(['poll']);
  ladder.start();
  assert.equal(ladder.disable(), null);
});

test('one stall retries the same transport; two in a row fall back', () => {
  const ladder = new TransportLadder();
  ladder.start();
  ladder.connected();
  assert.deepEqual(ladder.stalled(), { transport: 'websocket', wait: true });
  ladder.connected();
  assert.deepEqual(ladder.stalled(), { transport: 'sse', wait: true });
});

test('a healthy connection forgives an earlier stall', () => {
  const ladder = new TransportLadder();
  ladder.start();
  ladder.connected();
  ladder.stalled();
  ladder.connected();
  ladder.healthy();
  assert.deepEqual(ladder.stalled(), { transport: 'websocket', wait: true });
});

test('below the best transport, the best usable one is the upgrade candidate', () => {
  const ladder = new TransportLadder();
  ladder.start();
  ladder.openFailed();
  ladder.openFailed();
  ladder.connected(); // stream
  assert.equal(ladder.upgradeCandidate(), 'websocket');
  ladder.upgraded('websocket');
  assert.equal(ladder.current, 'websocket');
  assert.equal(ladder.upgradeCandidate(), null);
  assert.deepEqual(ladder.lost(), { transport: 'websocket', wait: true });
});
