/**
 * The server frames of `tests/fixtures/server_frames.json` (which a pytest checks against
 * what the server builds) as the client reads them: each is classified as the fixture
 * says, and its fields are where the client looks for them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import {
  type EventFrame,
  type HistoryResult,
  type PublicationFrame,
  type ReplyFrame,
  classifyFrame,
  decodeBase64,
  parseFrame
} from '../client/protocol.js';

interface Entry {
  name: string;
  kind: 'publication' | 'reply' | 'event';
  frame: Record<string, unknown>;
}

const FIXTURE = new URL('../../../tests/fixtures/server_frames.json', import.meta.url);
const entries = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { frames: Entry[] }).frames;
const byName = new Map(entries.map(e => [e.name, e]));

function read<T>(name: string, kind: Entry['kind']): T {
  const entry = byName.get(name);
  assert.ok(entry, `the fixture has no frame named ${name}`);
  const tagged = parseFrame(JSON.stringify(entry.frame));
  assert.equal(tagged?.kind, kind, name);
  return tagged!.frame as T;
}

test('every fixture frame is classified as the fixture says', () => {
  assert.ok(entries.length >= 12);
  for (const { name, kind, frame } of entries) {
    assert.equal(classifyFrame(frame)?.kind, kind, name);
  }
});

test('publications: position, sender, JSON data or base64 bytes', () => {
  const pub = read<PublicationFrame>('publication', 'publication');
  assert.deepEqual([pub.channel, pub.epoch, pub.offset, pub.sender], ['news', 'e1', 3, 'alice']);
  assert.equal(typeof pub.ts, 'number');
  assert.deepEqual(pub.data, { loss: 0.31 });
  const binary = read<PublicationFrame>('binary publication', 'publication');
  assert.equal(binary.data, undefined);
  assert.deepEqual([...decodeBase64(binary.data_b64!)], [1, 2, 3, 255]);
});

test('replies: a result, an acknowledgement, a history page, an error with its code', () => {
  const subscribed = read<ReplyFrame>('subscribe reply', 'reply');
  assert.ok('result' in subscribed);
  assert.deepEqual(subscribed.result, { epoch: 'e1', offset: 4, recovered: true });
  const ack = read<ReplyFrame>('subscribe acknowledgement', 'reply');
  assert.ok('result' in ack && ack.result.announced === true && ack.result.channel === 'news');
  const history = read<ReplyFrame>('history reply', 'reply');
  assert.ok('result' in history);
  const page = history.result as unknown as HistoryResult;
  assert.equal(page.recovered, true);
  assert.deepEqual(page.publications.map(p => classifyFrame(p)?.kind), ['publication']);
  const error = read<ReplyFrame>('error reply', 'reply');
  assert.ok('error' in error);
  assert.equal(error.error.code, 'forbidden');
  assert.equal(typeof error.error.message, 'string');
});

test('events: presence, gap, subscribed, session, disconnect', () => {
  const join = read<EventFrame>('join', 'event');
  assert.ok(join.event === 'join');
  assert.deepEqual([join.channel, join.client.client, join.client.user], ['news', 'c1', 'alice']);
  const leave = read<EventFrame>('leave', 'event');
  assert.ok(leave.event === 'leave' && leave.client.client === 'c1');
  const gap = read<EventFrame>('gap', 'event');
  assert.ok(gap.event === 'gap');
  assert.deepEqual([gap.channel, gap.epoch, gap.offset], ['news', 'e2', 0]);
  const subscribed = read<EventFrame>('subscribed', 'event');
  assert.ok(subscribed.event === 'subscribed');
  assert.deepEqual([subscribed.epoch, subscribed.offset, subscribed.recovered], ['e2', 0, false]);
  const session = read<EventFrame>('session', 'event');
  assert.ok(session.event === 'session' && typeof session.session === 'string');
  const disconnect = read<EventFrame>('disconnect', 'event');
  assert.ok(disconnect.event === 'disconnect');
  assert.deepEqual([disconnect.code, disconnect.reason, disconnect.reconnect], [4000, 'slow_consumer', true]);
});
