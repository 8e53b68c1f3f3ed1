import assert from 'node:assert/strict';
import { test } from 'node:test';

import { PositionTracker } from '../client/positions.js';

test('publications in order are delivered and move the position', () => {
  const t = new PositionTracker();
  assert.deepEqual(t.accept('c', 'e1', 1), { deliver: true, gap: null });
  assert.deepEqual(t.accept('c', 'e1', 2), { deliver: true, gap: null });
  assert.deepEqual(t.get('c'), { epoch: 'e1', offset: 2 });
  assert.equal(t.get('other'), undefined);
});

test('replayed publications already delivered are dropped', () => {
  const t = new PositionTracker();
  t.set('c', { epoch: 'e1', offset: 5 });
  assert.deepEqual(t.accept('c', 'e1', 4), { deliver: false, gap: null });
  assert.deepEqual(t.accept('c', 'e1', 5), { deliver: false, gap: null });
  assert.deepEqual(t.accept('c', 'e1', 6), { deliver: true, gap: null });
});

test('a skipped offset is delivered with the gap it reveals', () => {
  const t = new PositionTracker();
  t.set('c', { epoch: 'e1', offset: 5 });
  assert.deepEqual(t.accept('c', 'e1', 9), {
    deliver: true,
    gap: { event: 'gap', channel: 'c', epoch: 'e1', offset: 8 }
  });
});

test('a new epoch is a gap', () => {
  const t = new PositionTracker();
  t.set('c', { epoch: 'e1', offset: 5 });
  assert.deepEqual(t.accept('c', 'e2', 1).gap, { event: 'gap', channel: 'c', epoch: 'e2', offset: 0 });
  assert.deepEqual(t.get('c'), { epoch: 'e2', offset: 1 });
});

test('a gap event from the server is reported once, not again by the replay after it', () => {
  const t = new PositionTracker();
  t.set('c', { epoch: 'e1', offset: 5 });
  t.beginSubscribe('c');
  assert.equal(t.gap({ event: 'gap', channel: 'c', epoch: 'e1', offset: 20 }), true);
  assert.equal(t.gap({ event: 'gap', channel: 'c', epoch: 'e1', offset: 20 }), false);
  assert.deepEqual(t.accept('c', 'e1', 11), { deliver: true, gap: null });
  assert.equal(t.subscribed('c', { epoch: 'e1', offset: 11, recovered: false }, { epoch: 'e1', offset: 5 }), null);
});

test('recovered: false with nothing else reported becomes a gap', () => {
  const t = new PositionTracker();
  t.set('c', { epoch: 'e1', offset: 5 });
  t.beginSubscribe('c');
  const gap = t.subscribed('c', { epoch: 'e2', offset: 3, recovered: false }, { epoch: 'e1', offset: 5 });
  assert.deepEqual(gap, { event: 'gap', channel: 'c', epoch: 'e2', offset: 3 });
  assert.deepEqual(t.get('c'), { epoch: 'e2', offset: 3 });
});

test('a replay that skips offsets reports its gap once, then the reply adds nothing', () => {
  const t = new PositionTracker();
  t.set('c', { epoch: 'e1', offset: 5 });
  t.beginSubscribe('c');
  assert.notEqual(t.accept('c', 'e1', 50).gap, null);
  assert.equal(t.subscribed('c', { epoch: 'e1', offset: 50, recovered: false }, { epoch: 'e1', offset: 5 }), null);
});

test('a fresh subscribe starts at the result; a recovered one at least there', () => {
  const t = new PositionTracker();
  assert.equal(t.subscribed('c', { epoch: 'e1', offset: 7, recovered: true }, undefined), null);
  assert.deepEqual(t.get('c'), { epoch: 'e1', offset: 7 });
  assert.deepEqual(t.accept('c', 'e1', 8), { deliver: true, gap: null });
  t.beginSubscribe('c');
  assert.equal(t.subscribed('c', { epoch: 'e1', offset: 8, recovered: true }, { epoch: 'e1', offset: 8 }), null);
  assert.deepEqual(t.get('c'), { epoch: 'e1', offset: 8 });
});

test('delete forgets the channel', () => {
  const t = new PositionTracker();
  t.accept('c', 'e1', 3);
  t.delete('c');
  assert.equal(t.get('c'), undefined);
  assert.deepEqual(t.accept('c', 'e1', 9), { deliver: true, gap: null });
});
