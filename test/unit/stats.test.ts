import assert from 'node:assert/strict';
import { addSums, averageMs, bucketOf, emptySums, minuteOf, quantileMs, StatsTally, successRate, TIME_BOUNDS_MS, TIME_BUCKETS } from '../../src/core/stats';

describe('core/stats', () => {
  it('counts a row in the minute it finished', () => {
    assert.equal(minuteOf(Date.UTC(2026, 11, 7, 10, 15, 59, 999)), Date.UTC(2026, 11, 7, 10, 15));
    assert.equal(minuteOf(Date.UTC(2026, 11, 7, 10, 16)), Date.UTC(2026, 11, 7, 10, 16));
  });

  it('puts a processing time in the first bucket whose bound holds it, the slowest in the overflow', () => {
    assert.equal(bucketOf(0), 0);
    assert.equal(bucketOf(-5), 0, 'a clock that went back counts as 0');
    assert.equal(bucketOf(50), 0);
    assert.equal(bucketOf(51), 1);
    assert.equal(bucketOf(TIME_BOUNDS_MS[TIME_BOUNDS_MS.length - 1]), TIME_BOUNDS_MS.length - 1);
    assert.equal(bucketOf(10 * 3_600_000), TIME_BUCKETS - 1);
  });

  it('adds finished rows up by direction, remote, event and minute, and starts again once taken', () => {
    const t = new StatsTally();
    const at = Date.UTC(2026, 11, 7, 10, 15, 30);
    t.processed('outbound', 'B', 'Incident', at, 40);
    t.processed('outbound', 'B', 'Incident', at + 1000, 700);
    t.failed('outbound', 'B', 'Incident', at + 2000);
    t.processed('inbound', 'B', 'Incident', at, 80);
    t.processed('outbound', 'B', 'Incident', at + 60_000, 10);
    const taken = t.take();
    assert.equal(t.size, 0);
    assert.equal(taken.length, 3);
    const first = taken.find((i) => i.direction === 'outbound' && i.minute === minuteOf(at));
    assert.deepEqual({ processed: first?.processed, errors: first?.errors, timeSumMs: first?.timeSumMs }, { processed: 2, errors: 1, timeSumMs: 740 });
    assert.equal(first?.buckets[0], 1);
    assert.equal(first?.buckets[bucketOf(700)], 1);
    assert.equal(first?.lastAt, at + 1000, 'the latest processed, not the failure after it');
    assert.equal(taken.find((i) => i.direction === 'outbound' && i.minute === minuteOf(at) + 60_000)?.lastAt, at + 60_000);
    // A write that failed goes back in, added to what came meanwhile.
    t.processed('outbound', 'B', 'Incident', at, 5);
    t.add(taken);
    const again = t.take().find((i) => i.direction === 'outbound' && i.minute === minuteOf(at));
    assert.equal(again?.processed, 3);
    assert.equal(again?.timeSumMs, 745);
    assert.equal(again?.lastAt, at + 1000, 'merged with the later');
  });

  it('reads average, p95 and success rate from summed buckets', () => {
    const s = emptySums();
    assert.equal(averageMs(s), null);
    assert.equal(quantileMs(s, 0.95), null);
    assert.equal(successRate(s), null);
    // 95 quick rows and 5 slow ones: p95 is the quick bucket's bound; 96 quick: still; 94: the slow one's.
    s.processed = 100;
    s.errors = 25;
    s.timeSumMs = 95 * 40 + 5 * 4000;
    s.buckets[bucketOf(40)] = 95;
    s.buckets[bucketOf(4000)] = 5;
    assert.equal(quantileMs(s, 0.95), 50);
    assert.equal(averageMs(s), (95 * 40 + 5 * 4000) / 100);
    assert.equal(successRate(s), 0.8);
    s.buckets[bucketOf(40)] = 94;
    s.buckets[bucketOf(4000)] = 6;
    assert.equal(quantileMs(s, 0.95), 5000);
    const overflow = emptySums();
    overflow.buckets[TIME_BUCKETS - 1] = 3;
    assert.equal(quantileMs(overflow, 0.95), TIME_BOUNDS_MS[TIME_BOUNDS_MS.length - 1], 'the most that can be said');
    const sum = addSums(emptySums(), s);
    addSums(sum, s);
    assert.equal(sum.processed, 200);
    assert.equal(sum.buckets[bucketOf(4000)], 12);
  });
});
