import assert from 'node:assert/strict';
import { TokenBucket } from '../../src/core/rate';

describe('TokenBucket', () => {
  it('allows a burst, then the rate, and says how long to wait', () => {
    const bucket = new TokenBucket(10, 3, 0);
    assert.deepEqual([bucket.take(0), bucket.take(0), bucket.take(0)], [0, 0, 0]);
    assert.equal(bucket.take(0), 100, 'one token comes back every 100 ms at 10/s');
    assert.equal(bucket.take(50), 50);
    assert.equal(bucket.take(100), 0);
    assert.equal(bucket.take(10_000), 0);
    assert.deepEqual([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)].map((w) => w > 0), [false, false, true], 'refills to the burst, no further');
  });

  it('does not count a clock that goes back', () => {
    const bucket = new TokenBucket(1, 1, 5_000);
    assert.equal(bucket.take(5_000), 0);
    assert.equal(bucket.take(1_000), 1000);
  });
});
