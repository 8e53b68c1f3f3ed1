import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Backoff } from '../client/backoff.js';

test('the ceiling doubles from base up to max', () => {
  const backoff = new Backoff({ base: 100, max: 1000 });
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(n => backoff.ceiling(n)), [100, 200, 400, 800, 1000, 1000]);
});

test('full jitter: a delay is random * ceiling, and the attempt advances', () => {
  const draws = [0.5, 0.5, 0.999, 0];
  const backoff = new Backoff({ base: 100, max: 1000, random: () => draws.shift() as number });
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next()], [50, 100, 399, 0]);
  assert.equal(backoff.attempt, 4);
});

test('reset starts over from the first ceiling', () => {
  const backoff = new Backoff({ base: 100, max: 1000, random: () => 0.99 });
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.equal(backoff.attempt, 0);
  assert.equal(backoff.next(), 99);
});

test('huge attempt numbers stay at max', () => {
  const backoff = new Backoff({ base: 500, max: 20000 });
  assert.equal(backoff.ceiling(5000), 20000);
});
