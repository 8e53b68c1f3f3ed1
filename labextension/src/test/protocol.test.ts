import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LineBuffer } from '../client/lines.js';
import {
  classifyFrame,
  decodeBase64,
  encodeBase64,
  isValidChannel,
  packBinary,
  parseBinaryFrame,
  parseFrame,
  unpackBinary
} from '../client/protocol.js';
import { SseParser } from '../client/sse-parser.js';

const PUB = { channel: 'train:metrics', epoch: '9f2c41d0', offset: 42, data: { loss: 0.31 }, ts: 1.5, sender: 'alice' };

test('frames are told apart by their fields', () => {
  assert.equal(parseFrame(JSON.stringify(PUB))?.kind, 'publication');
  assert.equal(parseFrame('{"id": 1, "result": {}}')?.kind, 'reply');
  assert.equal(parseFrame('{"id": 2, "error": {"code": "bad_request", "message": "x"}}')?.kind, 'reply');
  // a gap has channel and offset too, but it is an event
  assert.equal(parseFrame('{"event": "gap", "channel": "c", "epoch": "e", "offset": 3}')?.kind, 'event');
  assert.equal(parseFrame('{"event": "session", "session": "s1"}')?.kind, 'event');
});

test('malformed and unknown frames are null', () => {
  assert.equal(parseFrame('not json'), null);
  assert.equal(parseFrame('[1, 2]'), null);
  assert.equal(parseFrame('{"event": "surprise"}'), null);
  assert.equal(parseFrame('{"id": 1}'), null);
  assert.equal(parseFrame('{"channel": "c", "offset": 1}'), null);
  assert.equal(classifyFrame(null), null);
});

test('channel names follow the protocol', () => {
  assert.ok(isValidChannel('a-Z_0.9:@x'));
  assert.ok(isValidChannel('x'.repeat(200)));
  assert.ok(!isValidChannel(''));
  assert.ok(!isValidChannel('x'.repeat(201)));
  assert.ok(!isValidChannel('a/b'));
  assert.ok(!isValidChannel('a b'));
});

test('binary frames: 4-byte big-endian header length, JSON header, bytes', () => {
  const frame = packBinary({ op: 'publish', channel: 'c' }, new Uint8Array([0, 255, 7]));
  const head = '{"op":"publish","channel":"c"}';
  assert.deepEqual([...frame.subarray(0, 4)], [0, 0, 0, head.length]);
  assert.equal(new TextDecoder().decode(frame.subarray(4, 4 + head.length)), head);
  const { header, bytes } = unpackBinary(frame);
  assert.deepEqual(header, { op: 'publish', channel: 'c' });
  assert.deepEqual([...bytes], [0, 255, 7]);
});

test('a binary publication parses with its bytes; a broken one is null', () => {
  const { data: _data, ...header } = PUB;
  const parsed = parseBinaryFrame(packBinary(header, new Uint8Array([1, 2])));
  assert.equal(parsed?.kind, 'publication');
  assert.deepEqual(parsed?.kind === 'publication' ? [...(parsed.bytes ?? [])] : null, [1, 2]);
  assert.equal(parseBinaryFrame(new Uint8Array([0, 0, 0, 99, 1])), null);
  assert.equal(parseBinaryFrame(new Uint8Array([0, 0])), null);
  assert.throws(() => unpackBinary(new Uint8Array([0, 0, 0, 2, 0x5b, 0x5d])), /JSON object/);
});

test('base64 round-trips every byte value', () => {
  const bytes = new Uint8Array(256).map((_, i) => i);
  assert.equal(encodeBase64(new Uint8Array([104, 105])), 'aGk=');
  assert.deepEqual([...decodeBase64(encodeBase64(bytes))], [...bytes]);
});

test('lines are split across chunks, with CRLF or LF', () => {
  const lines = new LineBuffer();
  assert.deepEqual(lines.push('{"a":'), []);
  assert.deepEqual(lines.push('1}\r\n\n{"b"'), ['{"a":1}', '']);
  assert.equal(lines.pending, '{"b"');
  assert.deepEqual(lines.push(':2}\n'), ['{"b":2}']);
});

test('the SSE parser yields events and skips comment heartbeats', () => {
  const parser = new SseParser();
  const feed = (text: string) =>
    text.split('\n').map(line => parser.line(line)).filter(event => event !== null);
  assert.deepEqual(feed('retry: 2000\n: ping\n'), []);
  assert.equal(parser.retry, 2000);
  assert.deepEqual(feed('id: abc\nevent: subscribed\ndata: {"x":\ndata: 1}\n'), [
    { type: 'subscribed', data: '{"x":\n1}', lastEventId: 'abc' }
  ]);
  assert.deepEqual(feed('data:no-space\n'), [{ type: 'message', data: 'no-space', lastEventId: 'abc' }]);
  assert.deepEqual(feed('id\n\n'), []); // an event without data dispatches nothing
});
