/**
 * The link key of one remote system: the key of every row that belongs to its link
 * (queues, correlations, sequences, journal marks). It is the remote instance's id once
 * that is known, so that the link follows the remote instance and not the config node
 * that names it: a node made again, two nodes for the same remote, or the same flows
 * imported into another Node-RED over the same store all find the same twins and
 * sequences, and echo suppression compares instances. Until the remote's id is known
 * (a new remote never reached yet, or a store of an older version), the key is the node's
 * id, as before.
 *
 * The id is read from the store at start (what this node, or its URL, was learned to be)
 * and learned from the remote: a handshake (Validate and activate, the sender's probe),
 * the answer to a batch, or an envelope it sent us that authenticated as this remote
 * system. When it is learned, the rows under the node id are adopted by it in one
 * transaction (peers/types.ts), while no write under the old key is under way: writes
 * keyed by the link (enqueue, accept) run through hold(), which waits for a change of
 * key. The first id learned stays: a remote that later says it is another instance (its
 * store was replaced, or the URL now reaches another Node-RED) is reported and its
 * messages keep the link they had, since a link moved on the remote's word could send
 * updates to the wrong records.
 */
import { peerUrl, type Store } from '../store/store';

/** What the engine needs of a link key (a fixed one in tests and for a node without a store). */
export interface LinkIdentity {
  /** The key now: the peer's instance id once known, else the node id. */
  readonly value: string;
  /** The peer's instance id, once known. */
  readonly peer: string | undefined;
  /** Resolves once the key was read from the store (rejects while it cannot be read; a later call tries again). */
  ready(): Promise<void>;
  /** The key once it is read and no change of key is under way. */
  settled(): Promise<string>;
  /** Runs a write keyed by the link with the key it must use; a change of key waits for it, and it for a change of key. */
  hold<T>(work: (key: string) => Promise<T>): Promise<T>;
  /** The remote said it is instance `instanceId`. Never throws: a store fault is reported and learning is tried at the next occasion. */
  learn(instanceId: string, from: PeerSource): Promise<void>;
}

export type PeerSource = 'store' | 'handshake' | 'answer' | 'envelope';

/** A key that never changes (engine tests, fixtures). */
export function fixedIdentity(key: string): LinkIdentity {
  return {
    value: key,
    peer: undefined,
    ready: async () => undefined,
    settled: async () => key,
    hold: (work) => work(key),
    learn: async () => undefined,
  };
}

export interface LinkIdentityEvents {
  /** A log line for the node to word (warnings.<code>). */
  notice: (level: 'warn' | 'log', code: string, params: Record<string, string | number>) => void;
  fault: (err: unknown) => void;
  /** This link now follows `peer` (learned from the remote, not read from the store): other links to the same remote may follow. */
  learned?: (peer: string) => Promise<void>;
}

export class LinkKey implements LinkIdentity {
  private key: string;
  private known: string | undefined;
  private reading: Promise<void> | undefined;
  private switching: Promise<void> | undefined;
  private holds = 0;
  private idle: (() => void) | undefined;
  private readonly mismatches = new Set<string>();

  constructor(
    private readonly node: string,
    readonly url: string,
    readonly store: Store,
    private readonly on: LinkIdentityEvents,
    private readonly now: () => number = Date.now,
  ) {
    this.key = node;
  }

  get value(): string {
    return this.key;
  }

  get peer(): string | undefined {
    return this.known;
  }

  ready(): Promise<void> {
    this.reading ??= this.read().catch((err: unknown) => {
      this.reading = undefined;
      throw err;
    });
    return this.reading;
  }

  private async read(): Promise<void> {
    // Fails while the store cannot be reached (a PostgreSQL server away): a call that waits for the key fails as any store call would.
    await this.store.opened();
    const peer = await this.store.peers.resolve(this.node, this.url);
    // Found by the URL only (a node made again), or rows left under the node id by an
    // older version or a process that had not learned yet: adopted now.
    if (peer !== undefined) await this.change(peer, 'store');
  }

  async settled(): Promise<string> {
    await this.ready();
    while (this.switching) await this.switching;
    return this.key;
  }

  /** Whether `other` reaches the same remote: the same store and the same base URL. */
  sameRemote(other: LinkKey): boolean {
    const url = peerUrl(this.url);
    return other.store === this.store && url !== '' && peerUrl(other.url) === url;
  }

  async hold<T>(work: (key: string) => Promise<T>): Promise<T> {
    await this.ready();
    while (this.switching) await this.switching;
    this.holds += 1;
    try {
      return await work(this.key);
    } finally {
      this.holds -= 1;
      if (this.holds === 0) this.idle?.();
    }
  }

  async learn(instanceId: string, from: PeerSource): Promise<void> {
    try {
      await this.ready();
      while (this.switching) await this.switching;
      if (this.known === instanceId) return;
      if (this.known !== undefined) {
        if (!this.mismatches.has(instanceId)) {
          this.mismatches.add(instanceId);
          this.on.notice('warn', 'peer-changed', { known: this.known, seen: instanceId });
        }
        return;
      }
      await this.change(instanceId, from);
    } catch (err) {
      this.on.fault(err);
    }
  }

  /** Becomes `peer`'s link: remembered, rows under the node id adopted, while no write holds the old key. */
  private async change(peer: string, from: PeerSource): Promise<void> {
    if (this.switching) return this.switching;
    const switching = (async () => {
      if (this.holds > 0) await new Promise<void>((resolve) => (this.idle = resolve));
      this.idle = undefined;
      const now = this.now();
      // Read from the store: this node is remembered as that peer (it may have been found by its URL only).
      await this.store.peers.learn(this.node, from === 'store' ? '' : this.url, peer, now);
      const moved = await this.store.peers.adopt(this.node, peer, now);
      this.key = peer;
      this.known = peer;
      if (from !== 'store') this.on.notice('log', 'peer-learned', { peer });
      if (moved.correlations + moved.outbound + moved.inbound > 0) this.on.notice('log', 'adopted', { ...moved, peer });
    })();
    this.switching = switching;
    try {
      await switching;
    } finally {
      this.switching = undefined;
    }
    // Once this change is over (a link told of it asks this one back, and finds it known).
    if (from !== 'store') await this.on.learned?.(peer);
  }
}
