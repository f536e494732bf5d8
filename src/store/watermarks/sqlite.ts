/** Watermarks in SQLite. */
import { compareWatermarks, type Watermark } from '../../core/delta';
import type { SqliteDb } from '../sqlite/database';
import type { Watermarks } from './types';

interface Row {
  updated_after: number | null;
  id_after: string | null;
}

function statements(db: SqliteDb['db']) {
  return {
    read: db.prepare<[string], Row>('SELECT updated_after, id_after FROM rps_watermark WHERE node_id = ?'),
    write: db.prepare<[string, number | null, string | null, number]>(`
      INSERT INTO rps_watermark (node_id, updated_after, id_after, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (node_id) DO UPDATE SET updated_after = excluded.updated_after, id_after = excluded.id_after, updated_at = excluded.updated_at`),
    forget: db.prepare<[string]>('DELETE FROM rps_watermark WHERE node_id = ?'),
  };
}

const watermark = (r: Row): Watermark => ({ updatedAfter: r.updated_after, idAfter: r.id_after });

export class SqliteWatermarks implements Watermarks {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = statements(s.db);
  }

  async read(node: string): Promise<Watermark | undefined> {
    const row = this.sql.read.get(node);
    return row && watermark(row);
  }

  async write(node: string, to: Watermark, now: number): Promise<boolean> {
    // A progress commit: a write lost to a power cut leaves an older watermark, which
    // repeats records (queued already, de-duplicated by the receiver), never skips one.
    return this.s.progress(() => {
      const row = this.sql.read.get(node);
      if (row && compareWatermarks(to, watermark(row)) <= 0) return false;
      this.sql.write.run(node, to.updatedAfter, to.idAfter, now);
      return true;
    });
  }

  async reset(node: string, to: number | null, now: number): Promise<void> {
    await this.s.durable(() => (to === null ? this.sql.forget.run(node) : this.sql.write.run(node, to, null, now)));
  }
}
