import assert from 'node:assert/strict';
import { backoffDelay, MAX_RETRY_AFTER_MS, retryAfterMs, timerDelay } from '../../src/core/backoff';

describe('core/backoff', () => {
  const policy = { baseMs: 1000, maxMs: 30_000 };

  it('doubles per attempt between half and all of the step, capped', () => {
    assert.equal(backoffDelay(policy, 1, () => 0), 500);
    assert.equal(backoffDelay(policy, 1, () => 1), 1000);
    assert.equal(backoffDelay(policy, 3, () => 1), 4000);
    assert.equal(backoffDelay(policy, 50, () => 1), 30_000);
    assert.equal(backoffDelay(policy, 50, () => 0), 15_000);
  });

  it('reads Retry-After as seconds or as a date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfterMs('7', now), 7000);
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now), 10_000);
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs(undefined, now), undefined);
  });

  it('never waits longer than an hour for a Retry-After, and keeps timers within what setTimeout takes', () => {
    assert.equal(retryAfterMs('3000000', 0), MAX_RETRY_AFTER_MS);
    assert.equal(retryAfterMs('Fri, 01 Jan 2100 00:00:00 GMT', 0), MAX_RETRY_AFTER_MS);
    assert.equal(timerDelay(2 ** 40), 2 ** 31 - 1);
    assert.equal(timerDelay(-5), 0);
  });
});
