import { strict as assert } from 'node:assert';
import { test } from 'node:test';

import { CellStarts, DROPPED, cellKey } from '../watch/cells.js';

test('a cell key is the Python one: cell:<id>, other characters as _, at most 200', () => {
  assert.equal(cellKey('8c1f-aa_2'), 'cell:8c1f-aa_2');
  assert.equal(cellKey('a b/é'), 'cell:a_b/_');
  assert.equal(cellKey('x'.repeat(300)).length, 200);
  assert.equal(DROPPED, 'earlier output of this cell was dropped');
});

test('a cell met without its start is named once', () => {
  const starts = new CellStarts();
  assert.equal(starts.missing({ type: 'cell_start', cell: 'a' }), null);
  assert.equal(starts.missing({ type: 'stream', cell: 'a' }), null);
  assert.equal(starts.missing({ type: 'stream', cell: 'b' }), 'b');
  assert.equal(starts.missing({ type: 'stream', cell: 'b' }), null);
  assert.equal(starts.missing({ not: 'mirrored' }), null);
  assert.equal(starts.missing('text'), null);
});
