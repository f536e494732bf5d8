import type { InboundPeer } from '../../src/engine/receiver';
import type { Store } from '../../src/store/types';

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
