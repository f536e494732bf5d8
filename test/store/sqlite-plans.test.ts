/**
 * Query plans of the SQLite store's statements that take rows by a list of ids (claims,
 * completions, retries): each must find its rows by id. SQLite otherwise prefers a
 * status-led index for `id IN (…) AND status = …` and walks every row of that status,
 * a cost that grows with the backlog (a 60-row inbound claim took 2.25 ms with 20,000
 * rows waiting, 1.2 ms found by id). Every statement the store prepares is read from
 * better-sqlite3 as it is prepared, so a new one is checked without being listed here.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite';

const BY_ID_LIST = /\bid IN \(SELECT value FROM json_each\((?:@\w+|\?)\)\)/;
/** The optional filter of people's and schedules' selections (`@ids IS NULL OR id IN …`) is not a lookup by id. */
const OPTIONAL = /IS NULL OR id IN/;

describe('SQLite store: statements that take rows by id find them by id (EXPLAIN QUERY PLAN)', () => {
  it('no such statement walks a status-led index', async () => {
    const prepared: string[] = [];
    const prepare = Database.prototype.prepare;
    Database.prototype.prepare = function (this: Database.Database, source: string) {
      prepared.push(source);
      return prepare.call(this, source);
    } as typeof prepare;
    const file = join(mkdtempSync(join(tmpdir(), 'rps-plans-')), 'store.sqlite');
    const store = new SqliteStore(file);
    try {
      await store.inbound.count();
      await store.outbound.count();
    } finally {
      Database.prototype.prepare = prepare;
    }
    const byId = [...new Set(prepared)].filter((sql) => BY_ID_LIST.test(sql) && !OPTIONAL.test(sql));
    assert.ok(byId.length >= 5, `the claims, completions and retries are among them: ${byId.length}`);
    const db = new Database(file, { readonly: true });
    try {
      for (const sql of byId) {
        const named = Object.fromEntries([...sql.matchAll(/@(\w+)/g)].map((m) => [m[1], null]));
        const positional = (sql.match(/\?/g) ?? []).map(() => null);
        const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
        const plan = (Object.keys(named).length > 0 ? stmt.all(named) : stmt.all(...positional)) as { detail: string }[];
        const text = plan.map((r) => r.detail).join(' | ');
        assert.match(text, /INTEGER PRIMARY KEY \(rowid=\?\)/, `found by id: ${sql.trim().slice(0, 120)}…\n  plan: ${text}`);
        assert.doesNotMatch(text, /\(status=\?\)/, `no walk over a status: ${sql.trim().slice(0, 120)}…\n  plan: ${text}`);
      }
    } finally {
      db.close();
      await store.close();
    }
  });
});
