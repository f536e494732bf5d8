/** Named values in PostgreSQL: one statement per call. */
import type { PgContext } from '../postgres/context';
import { query, rows, sql } from '../postgres/db';
import type { StoredValue, ValueChange, Values } from './types';

const READ = sql('value_read', 'SELECT value FROM rps_value WHERE key = $1::text');

const WRITE = sql('value_write', `
  INSERT INTO rps_value (key, value, updated_at) VALUES ($1::text, $2::text, $3::bigint)
  ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`);

const DELETE = sql('value_delete', 'DELETE FROM rps_value WHERE key = $1::text');

// The first writer wins; nothing comes back when the key has a value already.
const INIT = sql('value_init', `
  INSERT INTO rps_value (key, value, updated_at) VALUES ($1::text, $2::text, $3::bigint)
  ON CONFLICT (key) DO NOTHING
  RETURNING value`);

const LIST = sql('value_list', 'SELECT key, value FROM rps_value WHERE left(key, length($1::text)) = $1::text ORDER BY key');

// Compare-and-set in one statement: a row updated by another transaction meanwhile is
// checked again in its new version (READ COMMITTED), so it no longer matches `expected`.
const REPLACE = sql('value_replace', `
  UPDATE rps_value v SET value = c.value, updated_at = $4::bigint
  FROM unnest($1::text[], $2::text[], $3::text[]) AS c(key, expected, value)
  WHERE v.key = c.key AND v.value = c.expected
  RETURNING v.key`);
export class PostgresValues implements Values {
  constructor(private readonly p: PgContext) {}

  async read(key: string): Promise<string | undefined> {
    return (await rows<{ value: string }>(this.p.pool, READ, [key]))[0]?.value;
  }

  async write(key: string, value: string | undefined, now: number): Promise<void> {
    if (value === undefined) await query(this.p.pool, DELETE, [key]);
    else await query(this.p.pool, WRITE, [key, value, now]);
  }

  async init(key: string, value: string, now: number): Promise<string> {
    const [mine] = await rows<{ value: string }>(this.p.pool, INIT, [key, value, now]);
    if (mine) return mine.value;
    // Another writer was first. Read in a statement of its own: its snapshot is taken
    // after that writer committed, which the insert above waited for.
    return (await this.read(key)) ?? (await this.init(key, value, now));
  }

  async list(prefix: string): Promise<StoredValue[]> {
    return rows<StoredValue>(this.p.pool, LIST, [prefix]);
  }

  async replace(changes: readonly ValueChange[], now: number): Promise<string[]> {
    if (changes.length === 0) return [];
    const replaced = await rows<{ key: string }>(this.p.pool, REPLACE, [changes.map((c) => c.key), changes.map((c) => c.expected), changes.map((c) => c.value), now]);
    return replaced.map((r) => r.key);
  }
}
