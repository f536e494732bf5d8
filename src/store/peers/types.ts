/**
 * Peers: which instance each remote system is, as learned from the remote itself (its
 * `instanceId` in a handshake, in the answer to a batch, or in an envelope it sent us).
 * Every row keyed by a remote system (queues, correlations, sequences, journal marks) is
 * keyed by its *link key*: the peer's instance id once known, else the remote-system
 * node's id. What was learned is kept by node id and by the remote's normalised base URL,
 * so that a node made again (a new id, the same URL), or the same flows imported into
 * another Node-RED over the same store, finds its key at once, even while the peer is down.
 */
export interface Peers {
  /** The peer instance id learned for this remote-system node, else for its URL (`''`: none). */
  resolve(node: string, url: string): Promise<string | undefined>;
  /** Remembers that this node (and its URL, unless `''`) is instance `peer`. */
  learn(node: string, url: string, peer: string, now: number): Promise<void>;
  /**
   * Moves every row keyed by `from` to `to`, in one transaction: correlations (a link
   * already under `to` for either of its records wins), inbound sequences (the higher
   * wins), journal marks (their union), outbound and inbound queue rows (a message id
   * already under `to` is dropped as the duplicate it is), and our own outbound counters,
   * each with the stream it counted in (named after `from`, see outbound/types.ts), so
   * that a record's next message follows on in the stream the remote knows (a record
   * with a counter under `to` already keeps that one), attachments registered as sent and
   * inbound files (one already under `to` wins; an inbound file keeps its id, which names
   * its staged bytes). Nothing else is lost; running it again moves nothing.
   */
  adopt(from: string, to: string, now: number): Promise<AdoptCounts>;
}

/** What an adoption moved, per table (dropped: rows that clashed with what `to` had). */
export interface AdoptCounts {
  correlations: number;
  outbound: number;
  inbound: number;
  dropped: number;
}

/** A remote's base URL as peers are remembered by: lower-case scheme and host (as URL makes them), no trailing slash, no query. */
export function peerUrl(url: string): string {
  if (url.trim() === '') return '';
  try {
    const u = new URL(url.trim());
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    return '';
  }
}
