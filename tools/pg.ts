/**
 * The PostgreSQL server the tests and benchmarks use: RPS_TEST_PG_URL (set by .ci/run), else a local
 * one with trust authentication. Every test works in a schema of its own
 * (rps_test_<random>), dropped afterwards, so that runs never see each other's rows.
 * The user must be allowed to create schemas. Without a server the tests fail: they do
 * not skip.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const TEST_PG_URL = process.env.RPS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs one statement on its own connection. */
export async function pgQuery<R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> {
  const c = new Client({ connectionString: TEST_PG_URL });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
}

/** Fails with what to do when the server cannot be reached. */
export async function assertPgReachable(): Promise<void> {
  const c = new Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${TEST_PG_URL} (${(err as Error).message}). ` +
        'Start a server there, or set RPS_TEST_PG_URL=postgres://user:password@host:port/database ' +
        'to one where that user may create schemas. These tests do not skip.',
    );
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Schemas for one test: `next()` names a fresh one, `drop()` removes them all. */
export class TestSchemas {
  private readonly made = new Set<string>();

  next(): string {
    const schema = `rps_test_${randomBytes(6).toString('hex')}`;
    this.made.add(schema);
    return schema;
  }

  async drop(): Promise<void> {
    for (const schema of this.made) await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    this.made.clear();
  }
}
