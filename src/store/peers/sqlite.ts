/** Peers in SQLite: what each remote system is, and the adoption of rows by a new link key. */
import type { SqliteDb } from '../sqlite/database';
import { type AdoptCounts, type Peers, peerUrl } from './types';

type Db = SqliteDb['db'];

function prepare(db: Db) {
  const moved = (text: string) => db.prepare<{ from: string; to: string }>(text);
  const dropped = (text: string) => db.prepare<{ from: string }>(text);
  return {
    resolve: db.prepare<[string, string], { instance_id: string }>(`
      SELECT instance_id FROM rps_peer WHERE (kind = 'node' AND name = ?) OR (kind = 'url' AND name = ?)
      ORDER BY kind = 'node' DESC LIMIT 1`),
    learn: db.prepare<[string, string, string, number]>(`
      INSERT INTO rps_peer (kind, name, instance_id, learned_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (kind, name) DO UPDATE SET instance_id = excluded.instance_id, learned_at = excluded.learned_at`),
    correlations: moved(`
      UPDATE rps_correlation SET remote_system = @to
      WHERE remote_system = @from AND NOT EXISTS (
        SELECT 1 FROM rps_correlation c WHERE c.remote_system = @to AND c.local_table = rps_correlation.local_table AND c.local_id = rps_correlation.local_id)
      AND NOT EXISTS (
        SELECT 1 FROM rps_correlation c WHERE c.remote_system = @to AND c.remote_table = rps_correlation.remote_table AND c.remote_id = rps_correlation.remote_id)`),
    sequences: moved(`
      INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence)
      SELECT @to, direction, stream, record_table, record_id, last_sequence FROM rps_sequence WHERE remote_system = @from AND direction = 'in'
      ON CONFLICT (remote_system, direction, stream, record_table, record_id)
      DO UPDATE SET last_sequence = max(rps_sequence.last_sequence, excluded.last_sequence)`),
    // Our counters go on in the stream they counted in (outbound/types.ts); a record's counter under `to` wins.
    counters: db.prepare<{ from: string; to: string; instance: string }>(`
      INSERT INTO rps_sequence (remote_system, direction, stream, record_table, record_id, last_sequence, out_stream)
      SELECT @to, 'out', '', record_table, record_id, last_sequence, coalesce(out_stream, @instance || '/' || @from)
      FROM rps_sequence WHERE remote_system = @from AND direction = 'out'
      ON CONFLICT DO NOTHING`),
    marks: moved(`
      INSERT INTO rps_journal_mark (remote_system, entry_id, marked_at)
      SELECT @to, entry_id, marked_at FROM rps_journal_mark WHERE remote_system = @from
      ON CONFLICT DO NOTHING`),
    outbound: moved(`
      UPDATE rps_outbound SET remote_system = @to
      WHERE remote_system = @from AND NOT EXISTS (SELECT 1 FROM rps_outbound o WHERE o.remote_system = @to AND o.message_id = rps_outbound.message_id)`),
    inbound: moved(`
      UPDATE rps_inbound SET remote_system = @to
      WHERE remote_system = @from AND NOT EXISTS (SELECT 1 FROM rps_inbound i WHERE i.remote_system = @to AND i.message_id = rps_inbound.message_id)`),
    // Attachments: an UPDATE keeps an inbound file's id, which names its staged bytes (<staging>/in/<id>).
    attachmentsOut: moved(`
      UPDATE rps_attachment_out SET remote_system = @to
      WHERE remote_system = @from AND NOT EXISTS (
        SELECT 1 FROM rps_attachment_out a WHERE a.remote_system = @to AND a.record_table = rps_attachment_out.record_table
          AND a.record_id = rps_attachment_out.record_id AND a.attachment_id = rps_attachment_out.attachment_id)`),
    inboundFiles: moved(`
      UPDATE rps_inbound_file SET remote_system = @to
      WHERE remote_system = @from AND NOT EXISTS (
        SELECT 1 FROM rps_inbound_file f WHERE f.remote_system = @to AND f.message_id = rps_inbound_file.message_id
          AND f.hash = rps_inbound_file.hash AND f.file_name = rps_inbound_file.file_name)`),
    dropCorrelations: dropped('DELETE FROM rps_correlation WHERE remote_system = @from'),
    dropSequences: dropped('DELETE FROM rps_sequence WHERE remote_system = @from'),
    dropMarks: dropped('DELETE FROM rps_journal_mark WHERE remote_system = @from'),
    dropOutbound: dropped('DELETE FROM rps_outbound WHERE remote_system = @from'),
    dropInbound: dropped('DELETE FROM rps_inbound WHERE remote_system = @from'),
    dropAttachmentsOut: dropped('DELETE FROM rps_attachment_out WHERE remote_system = @from'),
    dropInboundFiles: dropped('DELETE FROM rps_inbound_file WHERE remote_system = @from'),
  };
}

export class SqlitePeers implements Peers {
  private readonly sql: ReturnType<typeof prepare>;

  constructor(private readonly s: SqliteDb) {
    this.sql = prepare(s.db);
  }

  async resolve(node: string, url: string): Promise<string | undefined> {
    return this.sql.resolve.get(node, peerUrl(url))?.instance_id;
  }

  async learn(node: string, url: string, peer: string, now: number): Promise<void> {
    const base = peerUrl(url);
    await this.s.durable(() => {
      this.sql.learn.run('node', node, peer, now);
      if (base !== '') this.sql.learn.run('url', base, peer, now);
    });
  }

  async adopt(from: string, to: string, _now: number): Promise<AdoptCounts> {
    if (from === to) return { correlations: 0, outbound: 0, inbound: 0, dropped: 0 };
    const k = { from, to };
    const s = this.sql;
    return this.s.durable(() => {
      const correlations = s.correlations.run(k).changes;
      s.sequences.run(k);
      s.counters.run({ ...k, instance: this.s.instanceId });
      s.marks.run(k);
      const outbound = s.outbound.run(k).changes;
      const inbound = s.inbound.run(k).changes;
      s.attachmentsOut.run(k);
      s.inboundFiles.run(k);
      const f = { from };
      const dropped =
        s.dropCorrelations.run(f).changes +
        s.dropOutbound.run(f).changes +
        s.dropInbound.run(f).changes +
        s.dropAttachmentsOut.run(f).changes +
        s.dropInboundFiles.run(f).changes;
      s.dropSequences.run(f);
      s.dropMarks.run(f);
      return { correlations, outbound, inbound, dropped };
    });
  }
}
