/**
 * The pure logic of the widget views (`widgets/logic.ts`): key picking, the chart's point
 * window, and the echo rules that keep a `ChannelLink` from looping.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LinkState, PointWindow, pick, toNumber } from '../widgets/logic.js';

test('pick: the whole data without a key, a key, a dotted key, a miss', () => {
  assert.deepEqual(pick(5, null), { found: true, value: 5 });
  assert.deepEqual(pick({ AAPL: 187.4 }, 'AAPL'), { found: true, value: 187.4 });
  assert.deepEqual(pick({ quote: { bid: 1 } }, 'quote.bid'), { found: true, value: 1 });
  assert.deepEqual(pick({ MSFT: 1 }, 'AAPL'), { found: false, value: undefined });
  assert.deepEqual(pick('text', 'AAPL'), { found: false, value: undefined });
  assert.deepEqual(pick({ a: null }, 'a.b'), { found: false, value: undefined });
});

test('toNumber: numbers and numeric strings, null for the rest', () => {
  assert.equal(toNumber(1.5), 1.5);
  assert.equal(toNumber('2'), 2);
  assert.equal(toNumber('x'), null);
  assert.equal(toNumber(null), null);
  assert.equal(toNumber(Infinity), null);
});

test('PointWindow keeps the last `size` points of every series', () => {
  const w = new PointWindow(2, 3);
  for (let i = 0; i < 5; i++) {
    w.push(i, [i * 10, i % 2 ? null : i]);
  }
  assert.deepEqual(w.columns, [
    [2, 3, 4],
    [20, 30, 40],
    [2, null, 4]
  ]);
  w.size = 2;
  w.trim();
  assert.deepEqual(w.columns[0], [3, 4]);
  w.push(4, [1, 1]); // an equal x is one more point
  assert.deepEqual(w.columns[0], [4, 4]);
  w.push(0, [7, 8]); // x going back: a new run starts over
  assert.deepEqual(w.columns, [[0], [7], [8]]);
});

test('LinkState ignores its own publications and values it already has', () => {
  const link = new LinkState();
  assert.equal(link.incoming({ value: 3, source: link.source }, 1), undefined);
  assert.equal(link.incoming({ value: 3, source: 'other' }, 3), undefined);
  assert.equal(link.incoming({ nothing: 1 }, 3), undefined);
  assert.equal(link.incoming(7, 3), undefined);
  assert.deepEqual(link.incoming({ value: 4, source: 'other' }, 3), { value: 4 });
  assert.deepEqual(link.incoming({ value: [1, 2] }, [1, 3]), { value: [1, 2] });
  assert.equal(link.incoming({ value: [1, 2] }, [1, 2]), undefined);
});

test('LinkState does not republish what it applies, nor the value last seen', () => {
  const link = new LinkState();
  assert.deepEqual(link.outgoing(5, 4), { value: 5, source: link.source });
  assert.equal(link.outgoing(5, 5), undefined);
  link.applying = true;
  assert.equal(link.outgoing(6, 5), undefined);
});

test('two links on one channel settle after one round trip', () => {
  // a: the user moves to 9; b applies it; neither publishes again
  const a = new LinkState();
  const b = new LinkState();
  const sent = a.outgoing(9, 0);
  assert.ok(sent);
  assert.equal(a.incoming(sent, 9), undefined); // a's own echo
  const applied = b.incoming(sent, 0);
  assert.deepEqual(applied, { value: 9 });
  b.applying = true; // b sets the trait: its change handler runs inside `applying`
  assert.equal(b.outgoing(9, 9), undefined);
});
