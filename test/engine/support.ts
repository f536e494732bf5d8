import { Inbox, type InboxOptions } from '../../src/engine/inbox';
import { type DeliveryClient, Outbox, type OutboxOptions } from '../../src/engine/outbox';
import type { InboundPeer } from '../../src/engine/receiver';
import type { StatusCounts, Store } from '../../src/store/store';

/** Remote system A as instance B's receiver knows it: active, no rate limit, with an API user. */
export function testPeer(store: Store, credentials: { user: string; password: string }, overrides: Partial<InboundPeer> = {}): InboundPeer {
  return {
    id: 'peer-A',
    name: 'A',
    store,
    instanceName: 'B',
    credentials,
    tokenLifetimeSec: 300,
    ratePerSec: 0,
    maxBodyBytes: 10_000_000,
    state: 'active',
    ...overrides,
  };
}

/** Resolves with the queue counts for remote B once `done` holds; re-checked whenever the outbox reports an outcome. */
export async function untilOutbox(store: Store, outbox: Outbox, done: (c: StatusCounts) => boolean): Promise<StatusCounts> {
  for (;;) {
    // Listen before looking, so an outcome between the two is not missed.
    let wake = (): void => undefined;
    const woken = new Promise<void>((res) => (wake = res));
    const events = ['delivered', 'failed', 'state'] as const;
    for (const e of events) outbox.on(e, wake);
    try {
      const c = await store.outbound.count('B');
      if (done(c)) return c;
      await woken;
    } finally {
      for (const e of events) outbox.off(e, wake);
    }
  }
}

/** A's sender for remote B with quick test timings: 3 tries, 20–200 ms backoff, probe every 50 ms. */
export function testOutbox(store: Store, client: DeliveryClient, overrides: Partial<OutboxOptions> = {}): Outbox {
  return new Outbox({
    remoteSystem: 'B',
    store,
    client,
    senderName: 'A',
    owner: 'test',
    batchSize: 100,
    maxInFlight: 2,
    leaseMs: 60_000,
    lingerMs: 0,
    backoff: { baseMs: 20, maxMs: 200 },
    maxTries: 3,
    probeIntervalMs: 50,
    ...overrides,
  });
}

/** B's dispatcher of remote 'A', event 'PE' on `store` (a 60 s processing timeout and gap wait), with the given options changed. */
export function testInbox(store: Store, options: Partial<InboxOptions> = {}): Inbox {
  return new Inbox({
    store,
    remoteSystem: 'A',
    processEvent: 'PE',
    owner: 'o',
    maxParallel: 8,
    processingTimeoutMs: 60_000,
    gapWaitMs: 60_000,
    timeoutError: 'timeout',
    emit: () => undefined,
    ...options,
  });
}
