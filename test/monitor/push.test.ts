/**
 * The push of figures to open editors (monitor/push.ts): computed once however often it
 * is poked meanwhile, published only when the figures changed.
 */
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import type { Figures } from '../../src/monitor/figures';
import { FiguresPush } from '../../src/monitor/push';

describe('monitor/push: FiguresPush', () => {
  it('computes once for several pokes, and publishes only figures that changed', async () => {
    const events = new EventEmitter();
    let computed = 0;
    let waiting = 0;
    const published: number[] = [];
    const push = new FiguresPush(
      async () => {
        computed += 1;
        events.emit('computed', computed);
        return { at: Date.now(), errors: { total: waiting, rows: [] } } as unknown as Figures;
      },
      (f) => {
        published.push(f.errors.total);
        events.emit('published');
      },
      (err) => assert.fail(err),
      5,
      60_000,
    );
    try {
      push.start();
      await once(events, 'published');
      assert.deepEqual(published, [0]);
      // Three pokes in one turn: one computation. Same figures (only `at` differs): nothing published.
      push.poke();
      push.poke();
      push.poke();
      await once(events, 'computed');
      const after = computed;
      assert.deepEqual(published, [0]);
      waiting = 3;
      push.poke();
      await once(events, 'published');
      assert.deepEqual(published, [0, 3]);
      assert.equal(computed, after + 1);
    } finally {
      push.stop();
    }
  });

  it('reports a failed computation and carries on', async () => {
    let fail = true;
    const faults: string[] = [];
    const published = new EventEmitter();
    const push = new FiguresPush(
      async () => {
        if (fail) throw new Error('store away');
        return { at: 0 } as unknown as Figures;
      },
      () => published.emit('published'),
      (err) => {
        faults.push(err.message);
        fail = false;
        push.poke();
      },
      5,
      60_000,
    );
    try {
      push.start();
      await once(published, 'published');
      assert.deepEqual(faults, ['store away']);
    } finally {
      push.stop();
    }
  });
});
