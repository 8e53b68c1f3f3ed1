/**
 * `stampAwareness`: every state of an awareness update gets the verified name, whatever it
 * claimed; other fields stay; a removed state (null) stays removed; garbage is refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as awarenessProtocol from 'y-protocols/awareness';
import * as Y from 'yjs';

import { stampAwareness } from '../widgets/awareness-names.js';

test('stampAwareness: the verified name replaces the claimed one', () => {
  const doc = new Y.Doc();
  const awareness = new awarenessProtocol.Awareness(doc);
  awareness.setLocalState({ user: { name: 'teacher<img src=x>', color: '#f00' }, cursor: 7 });
  const update = awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]);
  const stamped = stampAwareness(update, 'Anonymous Himalia');
  assert.ok(stamped);

  const reader = new awarenessProtocol.Awareness(new Y.Doc());
  awarenessProtocol.applyAwarenessUpdate(reader, stamped, 'test');
  assert.deepEqual(reader.getStates().get(doc.clientID), {
    user: { name: 'Anonymous Himalia', color: '#f00' },
    cursor: 7
  });
  awareness.destroy();
  reader.destroy();
});

test('stampAwareness: a state without a user gets one; null and garbage', () => {
  const doc = new Y.Doc();
  const awareness = new awarenessProtocol.Awareness(doc);
  awareness.setLocalState({ cursor: 1 });
  const update = awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]);
  const reader = new awarenessProtocol.Awareness(new Y.Doc());
  awarenessProtocol.applyAwarenessUpdate(reader, stampAwareness(update, 'bob')!, 'test');
  assert.deepEqual(reader.getStates().get(doc.clientID), { cursor: 1, user: { name: 'bob' } });

  awareness.setLocalState(null); // leaving: stays a removal
  const gone = awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]);
  awarenessProtocol.applyAwarenessUpdate(reader, stampAwareness(gone, 'bob')!, 'test');
  assert.equal(reader.getStates().has(doc.clientID), false);

  assert.equal(stampAwareness(new Uint8Array([1, 2]), 'bob'), null);
  awareness.destroy();
  reader.destroy();
});
