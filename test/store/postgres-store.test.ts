/**
 * The PostgreSQL store against a real server (see tools/pg.ts): the shared store
 * contract, then what only a store shared by several processes must do.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PostgresStore } from '../../src/store/postgres';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/migrations';
import type { OutboundRow, Store } from '../../src/store/store';
import { assertPgReachable, pgQuery, TEST_PG_URL, TestSchemas } from '../../tools/pg';
import { draft, received, storeContract } from './contract';

const T0 = 1_000_000;
const schemas = new TestSchemas();
const newSchema = (): string => schemas.next();
const sql = pgQuery;

async function open(schema: string): Promise<PostgresStore> {
  return PostgresStore.open({ connectionString: TEST_PG_URL, schema, pool: { max: 4 } });
}

describe('PostgreSQL store', function () {
  this.timeout(30_000);

  before(assertPgReachable);
  afterEach(() => schemas.drop());

  storeContract('PostgreSQL', {
    async create() {
      return open(newSchema());
    },
    // A restart of this process: the same schema opened again after the old handle closed.
    // Nothing is reset by hand: whatever is taken back is taken back by open() itself.
    async reopen(store: Store) {
      const schema = (store as PostgresStore).schema;
      assert.ok(schema);
      await store.close();
      return open(schema);
    },
  });

  describe('PostgreSQL store specifics', () => {
    const stores: Store[] = [];
    const track = <S extends Store>(s: S): S => {
      stores.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of stores.splice(0)) await s.close();
    });

    it('several processes opening a new schema at once apply each migration once and agree on the instance id', async () => {
      const schema = newSchema();
      const opened = await Promise.all(Array.from({ length: 4 }, () => open(schema).then(track)));
      assert.equal(new Set(opened.map((s) => s.instanceId)).size, 1);
      const applied = await sql<{ id: number; n: string }>(`SELECT id, count(*) AS n FROM ${schema}.rps_migrations GROUP BY id ORDER BY id`);
      assert.deepEqual(
        applied.map((r) => [r.id, Number(r.n)]),
        POSTGRES_MIGRATIONS.map((m) => [m.id, 1]),
      );
      // And once more later: nothing is applied again.
      const later = track(await open(schema));
      assert.equal(later.instanceId, opened[0].instanceId);
    });

    it('two workers claiming one remote at once never share a row nor take a record out of order', async () => {
      const schema = newSchema();
      const [a, b] = [track(await open(schema)), track(await open(schema))];
      const records = 12;
      const perRecord = 15;
      const items = [];
      for (let n = 0; n < perRecord; n++) {
        for (let r = 0; r < records; r++) items.push({ remoteSystem: 'B', message: draft('t', `r${r}`) });
      }
      await a.outbound.enqueue(items, T0);
      const total = records * perRecord;

      const claimedBy = new Map<number, string>();
      const next = new Map<string, number>(); // per record: the sequence that must come next
      const busy = new Map<string, string>(); // per record: the batch that has it in flight
      let processed = 0;
      let batchNo = 0;
      const violations: string[] = [];
      const worker = async (store: Store, owner: string): Promise<number> => {
        let claims = 0;
        while (processed < total) {
          const rows: OutboundRow[] = await store.outbound.claim('B', 1 + Math.floor(Math.random() * 8), T0, owner, 600_000);
          if (rows.length === 0) {
            await new Promise((r) => setTimeout(r, 2));
            continue;
          }
          claims += 1;
          const batch = `${owner}#${++batchNo}`;
          for (const row of rows) {
            if (claimedBy.has(row.id)) violations.push(`row ${row.id} claimed by ${claimedBy.get(row.id)} and ${owner}`);
            claimedBy.set(row.id, owner);
            const holder = busy.get(row.recordId);
            if (holder && holder !== batch) violations.push(`${row.recordId} in flight in ${holder} and ${batch}`);
            busy.set(row.recordId, batch);
            const expected = next.get(row.recordId) ?? 1;
            if (row.sequence !== expected) violations.push(`${row.recordId}: sequence ${row.sequence} claimed, ${expected} due`);
            next.set(row.recordId, row.sequence + 1);
          }
          await new Promise((r) => setTimeout(r, Math.random() * 5));
          // Free in our books before the store: it cannot be claimed before it is done there.
          for (const row of rows) busy.delete(row.recordId);
          await store.outbound.markProcessed(
            rows.map((r) => r.id),
            T0,
          );
          processed += rows.length;
        }
        return claims;
      };
      const [ca, cb] = await Promise.all([worker(a, 'w1'), worker(b, 'w2')]);
      assert.deepEqual(violations, []);
      assert.equal(claimedBy.size, total);
      assert.deepEqual(await a.outbound.count('B'), { ready: 0, processing: 0, processed: total, error: 0, skipped: 0 });
      assert.ok(ca > 0 && cb > 0, `both workers worked (${ca}, ${cb})`);
    });

    it('an expired lease is taken over by another owner, an unexpired one is not, and the record keeps its order', async () => {
      const schema = newSchema();
      const [a, b] = [track(await open(schema)), track(await open(schema))];
      const q = await a.outbound.enqueue(
        ['x', 'x', 'y'].map((id) => ({ remoteSystem: 'B', message: draft('t', id) })),
        T0,
      );
      const [x1] = await a.outbound.claim('B', 1, T0, 'w1', 1000);
      assert.equal(x1.id, q[0].id);
      const during = await b.outbound.claim('B', 10, T0 + 999, 'w2', 1000);
      assert.deepEqual(
        during.map((r) => r.recordId),
        ['y'],
        'x#1 is leased until T0+1000 (its end not included): x#2 waits behind it',
      );
      const after = await b.outbound.claim('B', 10, T0 + 1000, 'w2', 1000);
      assert.deepEqual(
        after.map((r) => r.id),
        [q[0].id, q[1].id],
        'taken over, in order',
      );
      assert.equal(after[0].attempts, 2);
      assert.equal(await a.outbound.release('B', 'w1', T0 + 1000), 0, 'the first owner holds nothing any more');
    });

    it('opening a store takes back the inbound rows of a killed process, not those of a live one', async () => {
      const schema = newSchema();
      const live = track(await open(schema));
      await live.inbound.accept('A', [received('t', 'live', 1), received('t', 'dead', 1)], T0);
      const [mine] = (await live.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 1, now: T0, owner: 'live', gapWaitMs: 0 })).rows;
      assert.equal(mine.sourceId, 'live');

      // Another process claims the other row and is killed (SIGKILL: no close, no goodbye).
      const script = `
        const { PostgresStore } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'store', 'postgres', 'index.js'))});
        PostgresStore.open({ connectionString: ${JSON.stringify(TEST_PG_URL)}, schema: ${JSON.stringify(schema)} }).then(async (s) => {
          const c = await s.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: ${T0}, owner: 'doomed', gapWaitMs: 0 });
          process.stdout.write(c.rows.map((r) => r.sourceId).join(','));
          process.kill(process.pid, 'SIGKILL');
        });
      `;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, s) => resolve(s)));
      assert.equal(signal, 'SIGKILL');
      assert.equal(out, 'dead');

      // PostgreSQL notices the closed connection at once; wait until its session is gone.
      for (let i = 0; ; i++) {
        const held = await sql(
          `SELECT 1 FROM pg_locks l JOIN ${schema}.rps_inbound i ON l.objid = i.locked_session::oid
           WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND i.source_id = 'dead'`,
        );
        if (held.length === 0) break;
        assert.ok(i < 100, 'the killed session is still there after 5 s');
        await new Promise((r) => setTimeout(r, 50));
      }

      const restarted = track(await open(schema));
      assert.equal((await restarted.inbound.get(mine.id))?.status, 'processing', "the live store's row stays with it");
      const again = await restarted.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 5, now: T0, owner: 'new', gapWaitMs: 0 });
      assert.deepEqual(
        again.rows.map((r) => [r.sourceId, r.attempts]),
        [['dead', 2]],
      );
      assert.deepEqual(await live.inbound.finish([{ id: mine.id, attempt: 1, status: 'processed' }], T0), ['finished']);
    });

    it('two processes accepting the same new journal entry from two remotes at once take it in once', async () => {
      const schema = newSchema();
      const [a, b] = [track(await open(schema)), track(await open(schema))];
      const entry = (id: string) => ({ field: 'comments', id, value: id, author: 'ada', createdAt: 't' });
      // 40 entries, each arriving from X at one process and from Y at the other, at once.
      const ids = Array.from({ length: 40 }, (_, i) => `e${i}`);
      await Promise.all(
        ids.flatMap((id, i) => [
          a.inbound.accept('X', [received('t', `x${i}`, 1, { journal: [entry(id)] })], T0),
          b.inbound.accept('Y', [received('t', `y${i}`, 1, { journal: [entry(id)] })], T0),
        ]),
      );
      const rows = await a.inbound.list({ limit: 200 });
      const taken = rows.flatMap((r) => (JSON.parse(r.payload) as { journal: { id: string }[] }).journal.map((e) => e.id));
      assert.deepEqual(taken.sort(), [...ids].sort(), 'each entry taken in by exactly one of the two messages');
    });

    it('two dispatchers never have two messages of one record out at once', async () => {
      const schema = newSchema();
      const [a, b] = [track(await open(schema)), track(await open(schema))];
      const msgs = [];
      for (let s = 1; s <= 10; s++) for (let r = 0; r < 8; r++) msgs.push(received('t', `r${r}`, s));
      await a.inbound.accept('A', msgs, T0);
      const out = new Map<string, number>();
      const last = new Map<string, number>();
      const violations: string[] = [];
      let done = 0;
      const dispatcher = async (store: Store, owner: string): Promise<void> => {
        while (done < msgs.length) {
          const c = await store.inbound.claim({ remoteSystem: 'A', processEvent: 'PE', limit: 3, now: T0, owner, gapWaitMs: 60_000 });
          if (c.rows.length === 0) {
            await new Promise((r) => setTimeout(r, 2));
            continue;
          }
          for (const row of c.rows) {
            if (out.has(row.sourceId)) violations.push(`${row.sourceId}#${row.sequence} while #${out.get(row.sourceId)} is out`);
            if (row.sequence !== (last.get(row.sourceId) ?? 0) + 1) violations.push(`${row.sourceId}#${row.sequence} after #${last.get(row.sourceId)}`);
            out.set(row.sourceId, row.sequence);
          }
          await new Promise((r) => setTimeout(r, Math.random() * 4));
          for (const row of c.rows) {
            out.delete(row.sourceId);
            last.set(row.sourceId, row.sequence);
          }
          await store.inbound.finish(
            c.rows.map((row) => ({ id: row.id, attempt: row.attempts, status: 'processed' as const })),
            T0,
          );
          done += c.rows.length;
        }
      };
      await Promise.all([dispatcher(a, 'd1'), dispatcher(b, 'd2')]);
      assert.deepEqual(violations, []);
      assert.deepEqual(await a.inbound.count('A'), { ready: 0, processing: 0, processed: msgs.length, error: 0, skipped: 0 });
    });
  });
});
