/**
 * The SQLite database every concern module of the SQLite store works on (better-sqlite3,
 * WAL). One Node-RED process owns the file. better-sqlite3 is synchronous: a
 * transaction that returns has committed (or thrown, leaving nothing behind).
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { GroupSync } from './group-sync';
import { SQLITE_MIGRATIONS } from './migrations';

export type Db = Database.Database;

/** Applies pending migrations; safe when several processes open a new file at once. */
function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS rps_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = db.prepare('SELECT 1 FROM rps_migrations WHERE id = ?');
  const record = db.prepare('INSERT INTO rps_migrations (id, name, applied_at) VALUES (?, ?, ?)');
  for (const m of SQLITE_MIGRATIONS) {
    // IMMEDIATE takes the write lock before the check, so the check-then-apply is atomic across processes.
    db.transaction(() => {
      if (applied.get(m.id)) return;
      db.exec(m.sql);
      record.run(m.id, m.name, Date.now());
    }).immediate();
  }
  db.transaction(() => {
    db.prepare("INSERT INTO rps_meta (key, value) VALUES ('instance_id', ?) ON CONFLICT (key) DO NOTHING").run(randomUUID());
  }).immediate();
}

export class SqliteDb {
  readonly db: Db;
  readonly instanceId: string;
  /** Flushes the WAL for the commits that must survive power loss; none for an in-memory store. */
  private readonly sync: GroupSync | undefined;

  /** Opens (creating file and folder if need be) and migrates. */
  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // Commits are flushed to disk by GroupSync where that is promised (see durable()).
    this.db.pragma('synchronous = NORMAL');
    this.sync = path === ':memory:' ? undefined : new GroupSync(`${path}-wal`);
    this.db.pragma('busy_timeout = 5000');
    // A checkpoint (copying the WAL into the database file, with two fsyncs) blocks the
    // event loop; every 10,000 pages rather than 1,000, a busy queue rewrites the same
    // index pages many times between checkpoints and pays for them once. The WAL grows to
    // about 40 MB. The cache (64 MB rather than 2 MB) keeps the queue's index pages in
    // memory instead of reading them back from the OS on every claim.
    this.db.pragma('wal_autocheckpoint = 10000');
    this.db.pragma('cache_size = -65536');
    migrate(this.db);
    this.instanceId = (this.db.prepare("SELECT value FROM rps_meta WHERE key = 'instance_id'").get() as { value: string }).value;
  }

  /**
   * Runs `work` in a transaction that only records our own progress: claims, outcomes,
   * retries, releases, purges. Its commit is not waited for on disk (see GroupSync):
   * a process crash loses no commit; an OS crash or power loss can lose the last
   * progress commits only, which puts rows back as they were (processing rows are taken
   * back at open), so a message is sent or emitted again, which the receiver's
   * de-duplication and the per-record order absorb after any crash.
   */
  progress<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  /**
   * Runs `work` in a transaction that promises something to someone else (a message
   * queued for rps-send's flow, a batch answered "accepted" to a remote, a held error
   * item, a token, a person's skip) and resolves once it is on disk: it survives power
   * loss, not just a process crash. Flushing the WAL also makes every earlier progress
   * commit durable.
   */
  async durable<T>(work: () => T): Promise<T> {
    const out = this.db.transaction(work)();
    await this.flushed();
    return out;
  }

  /** Resolves once every commit made so far is on disk. */
  async flushed(): Promise<void> {
    await this.sync?.flushed();
  }

  async close(): Promise<void> {
    await this.sync?.close();
    if (this.db.open) this.db.close();
  }
}
