/** Applying the PostgreSQL store's migrations. */
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { transaction } from './db';
import { POSTGRES_MIGRATIONS } from './migrations';

/** Key of `pg_advisory_xact_lock` while migrating: one migrator at a time per database. */
const MIGRATION_LOCK = 539_451_501;

/**
 * Applies pending migrations and returns the instance id. Everything runs in one
 * transaction holding `pg_advisory_xact_lock(MIGRATION_LOCK)`: several processes that
 * open a new schema at once wait for each other here, and the later ones find the
 * migrations recorded and apply nothing.
 */
export async function migrate(pool: Pool, schema: string | undefined): Promise<string> {
  return transaction(pool, async (c) => {
    await c.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.query('CREATE TABLE IF NOT EXISTS rps_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
    const done = new Set((await c.query<{ id: number }>('SELECT id FROM rps_migrations')).rows.map((r) => r.id));
    for (const m of POSTGRES_MIGRATIONS) {
      if (done.has(m.id)) continue;
      await c.query(m.sql);
      await c.query('INSERT INTO rps_migrations (id, name, applied_at) VALUES ($1, $2, $3)', [m.id, m.name, Date.now()]);
    }
    await c.query("INSERT INTO rps_meta (key, value) VALUES ('instance_id', $1) ON CONFLICT (key) DO NOTHING", [randomUUID()]);
    return (await c.query<{ value: string }>("SELECT value FROM rps_meta WHERE key = 'instance_id'")).rows[0].value;
  });
}
