/** Tab sharing, pure parts: request correlation, the follower table, the catch-up decision. */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RealtimeError } from '../client/errors.js';
import { FollowerTable, TabRequests, lockName, needsCatchUp } from '../client/tabs.js';

test('replies settle the request with their correlation id, once', async () => {
  const requests = new TabRequests();
  const [a, pa] = requests.add<{ n: number }>({ op: 'presence', channel: 'c' });
  const [b, pb] = requests.add({ op: 'history', channel: 'c' });
  assert.notEqual(a, b);
  assert.equal(requests.settle(b, null, { code: 'forbidden', message: 'no' }), true);
  assert.equal(requests.settle(a, { n: 1 }), true);
  assert.equal(requests.settle(a, { n: 2 }), false);
  assert.deepEqual(await pa, { n: 1 });
  await assert.rejects(pb, (e: RealtimeError) => e.code === 'forbidden');
  assert.equal(requests.size, 0);
});

test('a leader change fails what was sent to the old leader and keeps what was not', async () => {
  const requests = new TabRequests();
  const [sent, pSent] = requests.add({ op: 'publish', channel: 'c', data: 1 });
  const [unsent, pUnsent] = requests.add({ op: 'publish', channel: 'c', data: 2 });
  requests.markSent(sent);
  requests.leaderLost();
  await assert.rejects(pSent, (e: RealtimeError) => e.code === 'unavailable');
  assert.deepEqual(requests.unsent(), [[unsent, { op: 'publish', channel: 'c', data: 2 }]]);
  assert.ok(requests.newId() > unsent);
  requests.cancel('closed');
  await assert.rejects(pUnsent, (e: RealtimeError) => e.code === 'unavailable');
  assert.equal(requests.size, 0);
});

test('the follower table counts tabs per channel', () => {
  const table = new FollowerTable();
  assert.equal(table.add('c', 't1'), true);
  assert.equal(table.add('c', 't2', true), false);
  assert.equal(table.add('c', 't2', true), false);
  assert.equal(table.add('d', 't2'), true);
  assert.deepEqual(table.followers('c'), ['t1', 't2']);
  assert.equal(table.wantsPresence('c'), true);
  assert.equal(table.wantsPresence('d'), false);
  assert.deepEqual(table.tabs.sort(), ['t1', 't2']);
  assert.equal(table.remove('c', 't3'), false);
  assert.equal(table.remove('c', 't1'), false);
  assert.deepEqual(table.removeTab('t2').sort(), ['c', 'd']);
  assert.equal(table.has('c'), false);
  assert.deepEqual(table.channels, []);
});

test('a tab behind the connection in the same epoch needs history', () => {
  const at = (epoch: string, offset: number) => ({ epoch, offset });
  assert.equal(needsCatchUp(undefined, at('e', 5)), 'none');
  assert.equal(needsCatchUp(at('e', 5), undefined), 'none');
  assert.equal(needsCatchUp(at('e', 5), at('e', 5)), 'none');
  assert.equal(needsCatchUp(at('e', 7), at('e', 5)), 'none');
  assert.equal(needsCatchUp(at('e', 2), at('e', 5)), 'history');
  assert.equal(needsCatchUp(at('old', 2), at('e', 5)), 'lost');
});

test('the lock name is the absolute base URL', () => {
  assert.equal(lockName('/user/a/', 'http://h:8888/lab'), 'jupyter-realtime:http://h:8888/user/a/');
  assert.equal(lockName('http://h/x/'), 'jupyter-realtime:http://h/x/');
  assert.equal(lockName('/x/'), 'jupyter-realtime:/x/');
});
