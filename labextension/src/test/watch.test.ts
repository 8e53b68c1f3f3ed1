import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { FIELDS, parseMirrorMessage } from '../watch/format.js';

import { describeProgress, formatDuration, isProgress, type ProgressMessage } from '../watch/progress.js';
import { stripAnsi, terminalText } from '../watch/text.js';

const running: ProgressMessage = {
  type: 'progress', bar: 'b', desc: 'train', n: 420, total: 1000, unit: 'it',
  unit_scale: false, rate: 38.2, elapsed: 11, eta: 15.2, postfix: 'loss=0.31', done: false
};

test('durations read as tqdm writes them', () => {
  assert.deepEqual([0, 9.6, 75, 3599, 3600, 37230].map(formatDuration),
    ['00:00', '00:10', '01:15', '59:59', '1:00:00', '10:20:30']);
});

test('a running bar: fraction, count, rate and ETA', () => {
  assert.deepEqual(describeProgress(running),
    { fraction: 0.42, count: '420/1000', rate: '38.2 it/s', time: 'ETA 00:15' });
});

test('a finished bar says how long it took; one that stopped short says so', () => {
  const done = { ...running, n: 1000, done: true, elapsed: 26 };
  assert.equal(describeProgress(done).time, 'done in 00:26');
  assert.equal(describeProgress({ ...done, n: 700 }).time, 'stopped in 00:26');
});

test('unknown total and rate, and scaled units', () => {
  const open = { ...running, total: null, rate: null, eta: null };
  assert.deepEqual(describeProgress(open), { fraction: null, count: '420/?', rate: '', time: '00:11 elapsed' });
  const bytes = { ...running, n: 1_500_000, total: 3_000_000, unit: 'B', unit_scale: true, rate: 250_000 };
  assert.deepEqual([describeProgress(bytes).count, describeProgress(bytes).rate], ['1.50M/3.00M', '250.00k B/s']);
});

test('only progress messages are progress', () => {
  assert.equal(isProgress(running), true);
  assert.equal(isProgress({ type: 'stream', text: 'x' }), false);
  assert.equal(isProgress({ type: 'progress' }), false);
  assert.equal(isProgress(null), false);
});

test('a carriage return starts its line over; ANSI colours are removed', () => {
  assert.equal(terminalText('a\n 10%\r 50%\r100%\nb\n'), 'a\n100%\nb\n');
  assert.equal(terminalText('x\r\n'), 'x\n');
  assert.equal(stripAnsi('\x1b[31mValueError\x1b[0m: boom'), 'ValueError: boom');
});

// The mirrored-output format, against the fixture that tests/test_mirror_format.py reads too
const MIRRORED = JSON.parse(
  readFileSync(new URL('../../../tests/fixtures/mirrored_output.json', import.meta.url), 'utf8')
) as {
  valid: Record<string, unknown>[];
  invalid: { why: string; message: unknown }[];
  hostile: { name: string; mime: string; value: string }[];
};

test('the valid messages of the fixture are accepted as they are', () => {
  assert.ok(MIRRORED.valid.length >= 10);
  for (const message of MIRRORED.valid) {
    assert.deepEqual(parseMirrorMessage(message), message, JSON.stringify(message));
  }
});

test('the invalid messages of the fixture are refused', () => {
  for (const { why, message } of MIRRORED.invalid) {
    assert.equal(parseMirrorMessage(message), null, why);
  }
});

test('every known type has a valid example, and hostile payloads are valid messages', () => {
  const types = new Set(MIRRORED.valid.map(m => m.type));
  for (const kind of Object.keys(FIELDS)) {
    assert.ok(types.has(kind), kind);
  }
  for (const { mime, value } of MIRRORED.hostile) {
    const message = { type: 'display_data', cell: 'x', data: { [mime]: value }, metadata: {} };
    assert.ok(parseMirrorMessage(message));
  }
});
