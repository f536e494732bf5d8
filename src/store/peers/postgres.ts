/**
 * Peers in PostgreSQL. Several processes with the same flows may learn the same peer and
 * adopt the same rows at once: an adoption holds a transaction lock on its target key,
 * so the second one waits for the first and then finds nothing left to move.
 */
import type { PgContext } from '../postgres/context';
import { query, rows, sql, transaction } from '../postgres/db';
import { type AdoptCounts, type Peers, peerUrl } from './types';

const RESOLVE = sql('peer_resolve', `
  SELECT instance_id FROM rps_peer WHERE (kind = 'node' AND name = $1::text) OR (kind = 'url' AND name = $2::text)
  ORDER BY kind = 'node' DESC LIMIT 1`);

const LEARN = sql('peer_learn', `
  INSERT INTO rps_peer (kind, name, instance_id, learned_at)
  SELECT k, n, $3::text, $4::bigint FROM unnest($1::text[], $2::text[]) AS u (k, n)
  ON CONFLICT (kind, name) DO UPDATE SET instance_id = excluded.instance_id, learned_at = excluded.learned_at`);

/** First key of the transaction locks that serialise adoptions into one key (`pg_advisory_xact_lock(ADOPT_LOCK, hashtext(to))`). */
const ADOPT_LOCK = 539_451_508;

const LOCK = sql('peer_adopt_lock', `SELECT pg_advisory_xact_lock(${ADOPT_LOCK}, hashtext($1::text))`);

// $1 from, $2 to. Each moves what does not clash with a row under `to`; what is left under `from` is removed after.
const MOVE_CORRELATIONS = sql('peer_move_correlations', `
  UPDATE rps_correlation o SET remote_system = $2::text
  WHERE o.remote_system = $1::text
    AND NOT EXISTS (SELECT 1 FROM rps_correlation c WHERE c.remote_system = $2::text AND c.local_table = o.local_table AND c.local_id = o.local_id)
    AND NOT EXISTS (SELECT 1 FROM rps_correlation c WHERE c.remote_system = $2::text AND c.remote_table = o.remote_table AND c.remote_id = o.remote_id)`);

const MOVE_SEQUENCES = sql('peer_move_sequences', `
  INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
  SELECT $2::text, direction, stream, record_table, record_id, last_sequence FROM rps_sequence WHERE remote_system = $1::text AND direction = 'in'
  ON CONFLICT (remote_system, direction, stream, record_table, record_id)
  DO UPDATE SET last_sequence = greatest(rps_sequence.last_sequence, excluded.last_sequence)`);

// Our counters go on in the stream they counted in (outbound/types.ts); a record's counter under `to` wins. $3: our instance id.
const MOVE_COUNTERS = sql('peer_move_counters', `
  INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence, out_stream)
  SELECT $2::text, 'out', '', record_table, record_id, last_sequence, coalesce(out_stream, $3::text || '/' || $1::text)
  FROM rps_sequence WHERE remote_system = $1::text AND direction = 'out'
  ON CONFLICT DO NOTHING`);

const MOVE_MARKS = sql('peer_move_marks', `
  INSERT INTO rps_journal_mark (remote_system, entry_id, marked_at)
  SELECT $2::text, entry_id, marked_at FROM rps_journal_mark WHERE remote_system = $1::text
  ON CONFLICT DO NOTHING`);

const MOVE_OUTBOUND = sql('peer_move_outbound', `
  UPDATE rps_outbound o SET remote_system = $2::text
  WHERE o.remote_system = $1::text AND NOT EXISTS (SELECT 1 FROM rps_outbound x WHERE x.remote_system = $2::text AND x.message_id = o.message_id)`);

const MOVE_INBOUND = sql('peer_move_inbound', `
  UPDATE rps_inbound i SET remote_system = $2::text
  WHERE i.remote_system = $1::text AND NOT EXISTS (SELECT 1 FROM rps_inbound x WHERE x.remote_system = $2::text AND x.message_id = i.message_id)`);

// Attachments: an UPDATE keeps an inbound file's id, which names its staged bytes (<staging>/in/<id>).
const MOVE_ATTACHMENTS_OUT = sql('peer_move_attachments_out', `
  UPDATE rps_attachment_out a SET remote_system = $2::text
  WHERE a.remote_system = $1::text AND NOT EXISTS (
    SELECT 1 FROM rps_attachment_out x WHERE x.remote_system = $2::text AND x.record_table = a.record_table
      AND x.record_id = a.record_id AND x.attachment_id = a.attachment_id)`);

const MOVE_INBOUND_FILES = sql('peer_move_inbound_files', `
  UPDATE rps_inbound_file f SET remote_system = $2::text
  WHERE f.remote_system = $1::text AND NOT EXISTS (
    SELECT 1 FROM rps_inbound_file x WHERE x.remote_system = $2::text AND x.message_id = f.message_id
      AND x.hash = f.hash AND x.file_name = f.file_name)`);

const dropFrom = (table: string) => sql(`peer_drop_${table.slice(4)}`, `DELETE FROM ${table} WHERE remote_system = $1::text`);

/** What clashed with a row under `to` (counted as dropped), then what was merged into `to` already. */
const DROP_CLASHED = ['rps_correlation', 'rps_outbound', 'rps_inbound', 'rps_attachment_out', 'rps_inbound_file'].map(dropFrom);
const DROP_MERGED = ['rps_sequence', 'rps_journal_mark'].map(dropFrom);

export class PostgresPeers implements Peers {
  constructor(private readonly p: PgContext) {}

  async resolve(node: string, url: string): Promise<string | undefined> {
    return (await rows<{ instance_id: string }>(this.p.pool, RESOLVE, [node, peerUrl(url)]))[0]?.instance_id;
  }

  async learn(node: string, url: string, peer: string, now: number): Promise<void> {
    const base = peerUrl(url);
    const kinds = base === '' ? ['node'] : ['node', 'url'];
    const names = base === '' ? [node] : [node, base];
    await query(this.p.pool, LEARN, [kinds, names, peer, now]);
  }

  async adopt(from: string, to: string, _now: number): Promise<AdoptCounts> {
    if (from === to) return { correlations: 0, outbound: 0, inbound: 0, dropped: 0 };
    return transaction(this.p.pool, async (c) => {
      await query(c, LOCK, [to]);
      const correlations = (await query(c, MOVE_CORRELATIONS, [from, to])).rowCount;
      await query(c, MOVE_SEQUENCES, [from, to]);
      await query(c, MOVE_COUNTERS, [from, to, this.p.instanceId]);
      await query(c, MOVE_MARKS, [from, to]);
      const outbound = (await query(c, MOVE_OUTBOUND, [from, to])).rowCount;
      const inbound = (await query(c, MOVE_INBOUND, [from, to])).rowCount;
      await query(c, MOVE_ATTACHMENTS_OUT, [from, to]);
      await query(c, MOVE_INBOUND_FILES, [from, to]);
      let dropped = 0;
      for (const drop of DROP_CLASHED) dropped += (await query(c, drop, [from])).rowCount;
      for (const drop of DROP_MERGED) await query(c, drop, [from]);
      return { correlations, outbound, inbound, dropped };
    });
  }
}
