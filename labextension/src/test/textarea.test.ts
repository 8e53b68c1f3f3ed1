/**
 * The shared cell's textarea fallback (`widgets/sharedcell-textarea.ts`): one input as one
 * Yjs change, and the caret carried through a change made elsewhere, checked against real
 * Yjs documents.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as Y from 'yjs';

import { replacement, shiftThrough } from '../widgets/sharedcell-textarea.js';

function apply(before: string, after: string): string {
  const doc = new Y.Doc();
  const text = doc.getText('t');
  text.insert(0, before);
  const { index, remove, insert } = replacement(before, after);
  text.delete(index, remove);
  text.insert(index, insert);
  return text.toString();
}

test('replacement: typing, deleting, pasting over a selection, repeated letters', () => {
  assert.deepEqual(replacement('abc', 'abxc'), { index: 2, remove: 0, insert: 'x' });
  assert.deepEqual(replacement('abc', 'ac'), { index: 1, remove: 1, insert: '' });
  assert.deepEqual(replacement('hello world', 'hello there world'), {
    index: 6,
    remove: 0,
    insert: 'there '
  });
  assert.deepEqual(replacement('aaa', 'aaaa'), { index: 3, remove: 0, insert: 'a' });
  assert.deepEqual(replacement('same', 'same'), { index: 4, remove: 0, insert: '' });
  for (const [a, b] of [
    ['x = 1\n', 'x = 12\ny = 2\n'],
    ['', 'new'],
    ['gone', ''],
    ['abcabc', 'abc'],
    ['print(1)', 'print(2)']
  ]) {
    assert.equal(apply(a, b), b);
  }
});

/** The caret at `caret` in `before`, after another user's change turns it into `after`. */
function caretAfter(before: string, caret: number, edit: (text: Y.Text) => void): number {
  const doc = new Y.Doc();
  const text = doc.getText('t');
  text.insert(0, before);
  let moved = -1;
  text.observe(event => {
    moved = shiftThrough(caret, event.delta);
  });
  doc.transact(() => edit(text));
  return moved;
}

test('shiftThrough: edits before the caret move it, edits after it do not', () => {
  // "hello world", caret before "world" (6)
  assert.equal(caretAfter('hello world', 6, t => t.insert(0, '>> ')), 9);
  assert.equal(caretAfter('hello world', 6, t => t.insert(11, '!')), 6);
  assert.equal(caretAfter('hello world', 6, t => t.delete(0, 6)), 0);
  assert.equal(caretAfter('hello world', 6, t => t.delete(3, 5)), 3); // the caret's span goes
  assert.equal(caretAfter('hello world', 6, t => t.delete(7, 2)), 6);
  assert.equal(
    caretAfter('hello world', 6, t => {
      t.delete(0, 1);
      t.insert(0, 'HH');
    }),
    7
  );
});
