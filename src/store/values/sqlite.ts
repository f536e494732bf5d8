/** Named values in SQLite. */
import type { SqliteDb } from '../sqlite/database';
import type { StoredValue, ValueChange, Values } from './types';

function statements(db: SqliteDb['db']) {
  return {
    read: db.prepare<[string], { value: string }>('SELECT value FROM rps_value WHERE key = ?'),
    write: db.prepare<[string, string, number]>(`
      INSERT INTO rps_value (key, value, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
    delete: db.prepare<[string]>('DELETE FROM rps_value WHERE key = ?'),
    // The first writer wins; a second process starting at the same time reads its value.
    init: db.prepare<[string, string, number]>('INSERT INTO rps_value (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING'),
    list: db.prepare<[{ prefix: string }], StoredValue>('SELECT key, value FROM rps_value WHERE substr(key, 1, length(@prefix)) = @prefix ORDER BY key'),
    replace: db.prepare<[string, number, string, string]>('UPDATE rps_value SET value = ?, updated_at = ? WHERE key = ? AND value = ?'),
  };
}

export class SqliteValues implements Values {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly s: SqliteDb) {
    this.sql = statements(s.db);
  }

  async read(key: string): Promise<string | undefined> {
    return this.sql.read.get(key)?.value;
  }

  async write(key: string, value: string | undefined, now: number): Promise<void> {
    await this.s.durable(() => (value === undefined ? this.sql.delete.run(key) : this.sql.write.run(key, value, now)));
  }

  async init(key: string, value: string, now: number): Promise<string> {
    return this.s.durable(() => {
      this.sql.init.run(key, value, now);
      return this.sql.read.get(key)!.value;
    });
  }

  async list(prefix: string): Promise<StoredValue[]> {
    return this.sql.list.all({ prefix });
  }

  async replace(changes: readonly ValueChange[], now: number): Promise<string[]> {
    if (changes.length === 0) return [];
    const { db } = this.s;
    // What is replaced here (a token or key in clear, written by an earlier version) must
    // not stay in the file: secure_delete overwrites the old cells with zeros (for this
    // transaction only: the queues do not need it), and the checkpoint copies the new
    // pages into the database file and truncates the write-ahead log, which held the old
    // ones (a reader of the file, e.g. a backup running, can keep it from finishing; the
    // log is then overwritten as it is reused).
    db.pragma('secure_delete = ON');
    let replaced: string[];
    try {
      replaced = this.s.progress(() => changes.filter((c) => this.sql.replace.run(c.value, now, c.key, c.expected).changes === 1).map((c) => c.key));
    } finally {
      db.pragma('secure_delete = OFF');
    }
    if (replaced.length > 0) db.pragma('wal_checkpoint(TRUNCATE)');
    await this.s.flushed();
    return replaced;
  }
}
