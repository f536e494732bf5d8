/**
 * The monitor's admin API and Prometheus text against real stores (SQLite and
 * PostgreSQL) with known rows and minute stats: every figure the page shows, the
 * filters, retry and skip changing the queue (checked in the store), the attachment
 * files received and their retry, bad requests refused with a reason, and the
 * Prometheus answer read back by a real parser.
 * (Node-RED's permission checks in front of these handlers are tested in the browser
 * tests, against a real Node-RED with adminAuth.)
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheus from 'parse-prometheus-text-format';
import { MINUTE_MS, minuteOf } from '../../src/core/stats';
import { StatsRecorder } from '../../src/engine/metrics';
import type { OpenStoreInfo } from '../../src/engine/runtime';
import { type ActionRemote, type Handler, MonitorApi, type MonitorHost } from '../../src/monitor/api';
import { type Figures, type MonitorRemote, storeId } from '../../src/monitor/figures';
import { PrometheusFigures } from '../../src/monitor/prometheus';
import { PostgresStore } from '../../src/store/postgres';
import { SqliteStore } from '../../src/store/sqlite';
import type { InboundFile, NewInboundFile, Store } from '../../src/store/store';
import { TEST_PG_URL, TestSchemas } from '../../tools/pg';
import { draft, received } from '../store/contract/support';

interface Sample {
  type: string;
  name: string;
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}

/** Serves the API's handlers as plugin.ts mounts them (without Node-RED's permission layer). */
function serve(api: MonitorApi): Server {
  const routes: [string, RegExp, Handler][] = [
    ['GET', /^\/rps-monitor\/figures$/, api.getFigures],
    ['GET', /^\/rps-monitor\/metrics$/, api.getMetrics],
    ['GET', /^\/rps-monitor\/payload$/, api.getPayload],
    ['POST', /^\/rps-monitor\/retry$/, api.retry],
    ['POST', /^\/rps-monitor\/skip$/, api.skip],
    ['POST', /^\/rps-monitor\/files\/retry$/, api.retryFiles],
    ['POST', /^\/rps-monitor\/remote\/([^/]+)\/(?:validate)$/, api.validate],
    ['POST', /^\/rps-monitor\/remote\/([^/]+)\/(?:pause)$/, api.pause],
    ['POST', /^\/rps-monitor\/remote\/([^/]+)\/(?:resume)$/, api.resume],
  ];
  return createServer((req: IncomingMessage & { params?: Record<string, string>; query?: Record<string, string>; body?: unknown }, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const route = routes.find(([m, p]) => m === req.method && p.test(url.pathname));
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    req.query = Object.fromEntries(url.searchParams);
    req.params = { id: decodeURIComponent(route[1].exec(url.pathname)?.[1] ?? '') };
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // Node-RED's admin app parses JSON bodies before its routes; so does this server.
      const text = Buffer.concat(chunks).toString('utf8');
      req.body = text ? (JSON.parse(text) as unknown) : {};
      route[2](req, res);
    });
  });
}

/** An attachment file received from `remoteSystem` (link key) for the local record case/`target`. */
function inboundFile(remoteSystem: string, fileName: string, target: string): NewInboundFile {
  return {
    remoteSystem,
    processEvent: 'PE',
    messageId: `m-${fileName}`,
    source: { instanceId: 'there', table: 'incident', id: target },
    target: { table: 'case', id: target },
    key: `key-${fileName}`,
    hash: createHash('sha256').update(fileName).digest('hex'),
    fileName,
    contentType: 'application/pdf',
    size: 2048 + fileName.length,
  };
}

function suite(kind: 'SQLite' | 'PostgreSQL', open: () => Promise<Store>, close: (s: Store) => Promise<void>): void {
  describe(`monitor API on ${kind}`, function () {
    this.timeout(30_000);
    let store: Store;
    let server: Server;
    let base: string;
    let prometheus: PrometheusFigures;
    const now = minuteOf(Date.now()) + 30_000;
    const key = `${kind}:test`;
    const actions: string[] = [];
    /** More open stores, for the test of one that cannot answer. */
    let extra: OpenStoreInfo[] = [];
    let errorOut: number;
    let errorIn: number;
    /** Attachment files from B: one stored, one wanted, one refused, two in error; and one in error from an undeployed remote X. */
    let file: Record<'stored' | 'wanted' | 'refused' | 'older' | 'newer' | 'elsewhere', InboundFile>;

    const remotes: MonitorRemote[] = [
      { id: 'rs-b', name: 'Desk B', storeKey: key, linkKey: 'B', outbound: 'active', inbound: 'active', paused: false },
      { id: 'rs-c', name: 'Desk C', storeKey: key, linkKey: 'C', outbound: 'error', inbound: 'disabled', outboundError: 'connection refused', paused: true },
    ];

    async function get(path: string): Promise<{ status: number; body: unknown; type: string | null }> {
      const res = await fetch(base + path);
      const type = res.headers.get('content-type');
      return { status: res.status, type, body: type?.includes('json') ? await res.json() : await res.text() };
    }

    async function post(path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
      const res = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    }

    before(async () => {
      store = await open();
      await store.opened();
      const out = store.outbound;
      // Outbound to B (PE): 6 rows: 2 processed, 1 error, 1 processing, 2 ready. To C (Other): 2 ready.
      await out.enqueue(
        [1, 2, 3, 4, 5, 6].map((i) => ({ remoteSystem: 'B', message: draft('incident', `i${i}`, { fields: { n: i, password: 'hunter2' } }) })),
        now - 10 * MINUTE_MS,
      );
      await out.enqueue([1, 2].map((i) => ({ remoteSystem: 'C', message: draft('incident', `c${i}`, { processEvent: 'Other' }) })), now - 5 * MINUTE_MS);
      const claimed = await out.claim('B', 4, now - 9 * MINUTE_MS, 'owner', 3_600_000);
      await out.markProcessed([claimed[0].id, claimed[1].id], now - 2 * MINUTE_MS);
      await out.fail([{ id: claimed[2].id, error: 'refused: bad state', kind: 'refused' }], now - MINUTE_MS);
      errorOut = claimed[2].id;
      // Inbound from B (PE): 3 rows: 1 processed, 1 error, 1 ready.
      await store.inbound.accept('B', [received('case', 'x', 1), received('case', 'y', 1), received('case', 'z', 1)], now - 4 * MINUTE_MS);
      const ins = (await store.inbound.claim({ remoteSystem: 'B', processEvent: 'PE', limit: 2, now: now - 3 * MINUTE_MS, owner: 'o', gapWaitMs: 0 })).rows;
      await store.inbound.finish(
        [
          { id: ins[0].id, attempt: ins[0].attempts, status: 'processed' },
          { id: ins[1].id, attempt: ins[1].attempts, status: 'error', error: 'flow failed' },
        ],
        now - 2 * MINUTE_MS,
      );
      errorIn = ins[1].id;
      const files = store.inboundFiles;
      const [stored, wanted, refused, older, newer, elsewhere] = await files.want(
        [inboundFile('B', 'stored.pdf', 't1'), inboundFile('B', 'wanted.pdf', 't2'), inboundFile('B', 'refused.pdf', 't3'), inboundFile('B', 'older.pdf', 't4'), inboundFile('B', 'newer.pdf', 't5'), inboundFile('X', 'elsewhere.pdf', 't6')],
        now - 5 * MINUTE_MS,
      );
      file = { stored, wanted, refused, older, newer, elsewhere };
      await files.claimToRequest(undefined, now - 5 * MINUTE_MS, 1, 'tr', now);
      await files.markStaged(stored.id, 'tr', now - 5 * MINUTE_MS);
      await files.claimStaged(['B'], 'PE', now - 5 * MINUTE_MS, 1);
      await files.finish(stored.id, { ok: true }, now - 4 * MINUTE_MS);
      await files.claimToRequest(undefined, now - 4 * MINUTE_MS, 10, 'tr2', now);
      await files.failPull(wanted.id, { status: 'wanted', nextAt: now + MINUTE_MS, received: 0 }, 'timeout', now - 4 * MINUTE_MS);
      await files.failPull(refused.id, { status: 'refused' }, 'forged', now - 4 * MINUTE_MS);
      await files.failPull(older.id, { status: 'error' }, 'mismatch', now - 3 * MINUTE_MS);
      await files.failPull(newer.id, { status: 'error' }, 'too large', now - 2 * MINUTE_MS);
      await files.failPull(elsewhere.id, { status: 'error' }, 'gone', now - MINUTE_MS);
      // Minute stats as the engine writes them: this minute, the last full one, and an hour ago.
      let clock = now;
      const recorder = new StatsRecorder(store, 60_000, () => clock);
      recorder.record({ direction: 'outbound', remoteSystem: 'B', processEvent: 'PE', processedMs: [40, 40, 40, 4000], errors: 1 });
      clock = now - MINUTE_MS;
      recorder.record({ direction: 'outbound', remoteSystem: 'B', processEvent: 'PE', processedMs: [200], errors: 0 });
      recorder.record({ direction: 'inbound', remoteSystem: 'B', processEvent: 'PE', processedMs: [90], errors: 1 });
      clock = now - 61 * MINUTE_MS;
      recorder.record({ direction: 'outbound', remoteSystem: 'C', processEvent: 'Other', processedMs: [10], errors: 0 });
      await recorder.stop();

      prometheus = new PrometheusFigures();
      prometheus.observe(storeId(key), 'rs-b', { direction: 'outbound', remoteSystem: 'B', processEvent: 'PE', processedMs: [40, 4000], errors: 1 });
      const info: OpenStoreInfo = { key, label: `${kind} test store`, kind: store.kind, store, stats: new StatsRecorder(store) };
      const remote = (id: string): ActionRemote => ({
        validate: async () => (actions.push(`validate ${id}`), { ok: true }),
        pause: async () => (actions.push(`pause ${id}`), { paused: true }),
        resume: async () => (actions.push(`resume ${id}`), { paused: false }),
      });
      const host: MonitorHost = {
        context: () => ({
          stores: [info, ...extra],
          remotes,
          now,
          handlerOf: (direction, remoteSystem) => (direction === 'outbound' && remoteSystem === 'rs-b' ? 'send-node-1' : undefined),
        }),
        remote: (id) => (remotes.some((r) => r.id === id) ? remote(id) : undefined),
        requeued: (direction, remoteSystem) => void actions.push(`requeued ${direction} ${remoteSystem ?? 'all'}`),
        filesRequeued: (s) => void actions.push(`files requeued ${s === store ? 'in this store' : 'elsewhere'}`),
        prometheus: async (figures: Figures) => ({ type: prometheus.contentType, text: await prometheus.text(figures) }),
        changed: () => void actions.push('changed'),
        text: (k, params) => `${k}${params ? ` ${JSON.stringify(params)}` : ''}`,
      };
      server = serve(new MonitorApi(host)).listen(0, '127.0.0.1');
      await once(server, 'listening');
      const address = server.address();
      base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    });

    after(async () => {
      server?.close();
      if (store) await close(store);
    });

    it('answers the figures: remotes, queue depth by status, oldest waiting, last processed', async () => {
      const { status, body } = await get('/rps-monitor/figures');
      assert.equal(status, 200);
      const f = body as Figures;
      assert.equal(f.at, now);
      assert.deepEqual(f.stores, [{ id: storeId(key), label: `${kind} test store`, kind: store.kind, available: true }]);
      assert.deepEqual(
        f.remotes.map((r) => [r.id, r.name, r.outbound, r.inbound, r.paused, r.outboundError ?? null]),
        [
          ['rs-b', 'Desk B', 'active', 'active', false, null],
          ['rs-c', 'Desk C', 'error', 'disabled', true, 'connection refused'],
        ],
      );
      assert.deepEqual(f.processEvents, ['Other', 'PE']);
      const q = (direction: string, remote: string): Figures['queues'][number] | undefined => f.queues.find((x) => x.direction === direction && x.remoteSystem === remote);
      assert.deepEqual(q('outbound', 'rs-b')?.counts, { ready: 2, processing: 1, processed: 2, error: 1, skipped: 0 });
      assert.equal(q('outbound', 'rs-b')?.remoteName, 'Desk B');
      assert.deepEqual(q('outbound', 'rs-c')?.counts, { ready: 2, processing: 0, processed: 0, error: 0, skipped: 0 });
      assert.deepEqual(q('inbound', 'rs-b')?.counts, { ready: 1, processing: 0, processed: 1, error: 1, skipped: 0 });
      // The oldest ready row of B was queued 10 minutes before `now`, C's 5.
      assert.equal(q('outbound', 'rs-b')?.oldestWaitingAgeMs, 10 * MINUTE_MS);
      assert.equal(q('outbound', 'rs-c')?.oldestWaitingAgeMs, 5 * MINUTE_MS);
      assert.equal(q('inbound', 'rs-b')?.oldestWaitingAgeMs, 4 * MINUTE_MS);
      assert.deepEqual(f.depth.outbound, { ready: 4, processing: 1, processed: 2, error: 1, skipped: 0, oldestWaitingAgeMs: 10 * MINUTE_MS, lastProcessedAt: f.depth.outbound.lastProcessedAt });
      assert.ok(f.depth.outbound.lastProcessedAt !== null, 'a last processed time');
    });

    it('answers throughput this minute, last hour and 24 hours, success rate, average and p95, and the charts’ series', async () => {
      const f = (await get('/rps-monitor/figures')).body as Figures;
      const out = f.windows.outbound;
      assert.deepEqual(out.minute, { processed: 4, errors: 1, successRate: 0.8 });
      assert.deepEqual(out.hour, { processed: 5, errors: 1, successRate: 5 / 6 }, 'an hour ago is outside the last hour');
      assert.equal(out.day.processed, 6);
      assert.equal(out.day.errors, 1);
      assert.equal(out.day.averageMs, (40 * 3 + 4000 + 200 + 10) / 6);
      // 6 rows: 4 within 50 ms, 1 within 250 ms, 1 within 5 s: the 95th percentile is the 6th row's bucket.
      assert.equal(out.day.p95Ms, 5000);
      assert.deepEqual(f.windows.inbound.day, { processed: 1, errors: 1, successRate: 0.5, averageMs: 90, p95Ms: 100 });
      const hour = f.series.hour;
      assert.deepEqual(
        hour.map((p) => [p.at, p.outbound.processed, p.outbound.errors, p.inbound.processed, p.inbound.errors]),
        [
          [minuteOf(now) - MINUTE_MS, 1, 0, 1, 1],
          [minuteOf(now), 4, 1, 0, 0],
        ],
      );
      assert.equal(f.series.day.reduce((n, p) => n + p.outbound.processed, 0), 6);
      assert.equal(f.histogram.outbound.reduce((a, b) => a + b, 0), 6);
    });

    it('lists the rows in error, newest first, with the payload masked and the node that handles them', async () => {
      const f = (await get('/rps-monitor/figures')).body as Figures;
      assert.equal(f.errors.total, 2);
      const [first, second] = f.errors.rows;
      assert.equal(first.direction, 'inbound', 'failed a minute later than the outbound row');
      assert.equal(first.id, errorIn);
      assert.equal(first.error, 'flow failed');
      assert.equal(first.record, 'case/y');
      assert.equal(second.id, errorOut);
      assert.equal(second.error, 'refused: bad state');
      assert.equal(second.record, 'incident/i3');
      assert.equal(second.remoteName, 'Desk B');
      assert.equal(second.processEvent, 'PE');
      assert.equal(second.handler, 'send-node-1');
      const payload = second.payload ?? '';
      assert.ok(payload.includes('"n": 3'), payload);
      assert.ok(!payload.includes('hunter2'), 'the password field is masked');
      // The same payload by itself (what the view reads when pushed figures leave payloads out).
      const one = await get(`/rps-monitor/payload?store=${storeId(key)}&direction=outbound&id=${errorOut}`);
      assert.deepEqual(one, { status: 200, type: one.type, body: { payload } });
      assert.equal((await get(`/rps-monitor/payload?store=${storeId(key)}&direction=inbound&id=999999`)).status, 404);
      assert.equal((await get(`/rps-monitor/payload?store=${storeId(key)}&direction=sideways&id=1`)).status, 400);
      assert.equal((await get(`/rps-monitor/payload?store=nope&direction=outbound&id=1`)).status, 400);
    });

    it('filters by remote system, process event and store', async () => {
      const b = (await get('/rps-monitor/figures?remoteSystem=rs-b')).body as Figures;
      assert.deepEqual([...new Set(b.queues.map((q) => q.remoteSystem))], ['rs-b']);
      assert.deepEqual(b.remotes.map((r) => r.id), ['rs-b']);
      assert.equal(b.windows.outbound.day.processed, 5);
      const other = (await get('/rps-monitor/figures?processEvent=Other')).body as Figures;
      assert.deepEqual(other.queues.map((q) => [q.direction, q.remoteSystem]), [['outbound', 'rs-c']]);
      assert.equal(other.errors.total, 0);
      assert.equal(other.windows.outbound.day.processed, 1);
      const none = (await get('/rps-monitor/figures?store=nothing')).body as Figures;
      assert.deepEqual(none.queues, []);
      assert.equal((await get(`/rps-monitor/figures?store=${storeId(key)}`)).status, 200);
    });

    it('answers the same figures in Prometheus text, which a real parser reads', async () => {
      const { status, type, body } = await get('/rps-monitor/metrics');
      assert.equal(status, 200);
      assert.match(type ?? '', /^text\/plain; version=0\.0\.4/);
      const text = body as string;
      assert.match(text, /# HELP rps_queue_rows /);
      assert.match(text, /# TYPE rps_processing_seconds histogram/);
      const parsed = parsePrometheus(text) as Sample[];
      const family = (name: string): Sample => {
        const found = parsed.find((s) => s.name === name);
        assert.ok(found, `${name} in ${parsed.map((s) => s.name).join(', ')}`);
        return found;
      };
      const value = (name: string, labels: Record<string, string>): number => {
        const m = family(name).metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
        assert.ok(m, `${name} ${JSON.stringify(labels)}`);
        return Number(m.value);
      };
      const row = { store: storeId(key), direction: 'outbound', remote_system: 'rs-b', process_event: 'PE' };
      assert.equal(family('rps_queue_rows').type, 'GAUGE');
      assert.equal(value('rps_queue_rows', { ...row, status: 'ready' }), 2);
      assert.equal(value('rps_queue_rows', { ...row, status: 'error' }), 1);
      assert.equal(value('rps_queue_rows', { ...row, direction: 'inbound', status: 'processed' }), 1);
      assert.equal(value('rps_queue_oldest_waiting_seconds', row), 600);
      assert.equal(value('rps_remote_system_state', { remote_system: 'rs-c', direction: 'outbound', state: 'error' }), 1);
      assert.equal(value('rps_remote_system_state', { remote_system: 'rs-c', direction: 'outbound', state: 'active' }), 0);
      assert.equal(value('rps_remote_system_paused', { remote_system: 'rs-c' }), 1);
      assert.equal(family('rps_rows_processed_total').type, 'COUNTER');
      assert.equal(value('rps_rows_processed_total', row), 2);
      assert.equal(value('rps_rows_failed_total', row), 1);
      const histogram = family('rps_processing_seconds');
      assert.equal(histogram.type, 'HISTOGRAM');
      // One series (this parser leaves a histogram's labels out): 40 ms and 4 s.
      assert.equal(histogram.metrics.length, 1);
      assert.equal(histogram.metrics[0].buckets?.['0.05'], '1');
      assert.equal(histogram.metrics[0].buckets?.['5'], '2');
      assert.equal(histogram.metrics[0].buckets?.['+Inf'], '2');
      assert.match(text, /^rps_processing_seconds_count\{[^}]*remote_system="rs-b"[^}]*\} 2$/m);
    });

    it('leaves out a store that cannot answer, says so, and shows the others', async () => {
      const away = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-monitor-away-')), 'store.sqlite'));
      await away.close();
      extra = [{ key: 'sqlite:away', label: 'away', kind: 'sqlite', store: away, stats: new StatsRecorder(away) }];
      try {
        const answer = await get('/rps-monitor/figures');
        assert.equal(answer.status, 200);
        const f = answer.body as Figures;
        const gone = f.stores.find((x) => x.id === storeId('sqlite:away'));
        assert.equal(gone?.available, false);
        assert.equal(typeof gone?.error, 'string');
        assert.equal(f.stores.find((x) => x.id === storeId(key))?.available, true);
        assert.deepEqual(f.depth.outbound.ready, 4, 'the store that answers is shown as before');
        const metrics = await get('/rps-monitor/metrics');
        assert.equal(metrics.status, 200);
        assert.match(metrics.body as string, new RegExp(`^rps_store_up\\{store="${storeId('sqlite:away')}",kind="sqlite"\\} 0$`, 'm'));
        assert.match(metrics.body as string, new RegExp(`^rps_store_up\\{store="${storeId(key)}",kind="${store.kind}"\\} 1$`, 'm'));
      } finally {
        extra = [];
      }
    });

    it('shows the attachment files received per remote system by status, and the newest in error', async () => {
      const f = (await get('/rps-monitor/figures')).body as Figures;
      const none = { wanted: 0, requested: 0, staged: 0, processing: 0, stored: 0, error: 0, refused: 0 };
      assert.deepEqual(
        f.files.counts.map((c) => [c.store, c.remoteSystem, c.remoteName, c.counts]),
        [
          [storeId(key), 'rs-b', 'Desk B', { ...none, wanted: 1, stored: 1, refused: 1, error: 2 }],
          [storeId(key), 'rs-c', 'Desk C', none],
        ],
        'the deployed remote systems of the store, by their node ids',
      );
      assert.equal(f.files.errors.total, 3, 'in error from any remote, deployed or not');
      assert.deepEqual(f.files.errors.rows.map((r) => r.id), [file.elsewhere.id, file.newer.id, file.older.id], 'newest first');
      assert.deepEqual(f.files.errors.rows[1], {
        store: storeId(key),
        id: file.newer.id,
        at: now - 2 * MINUTE_MS,
        remoteSystem: 'rs-b',
        remoteName: 'Desk B',
        fileName: 'newer.pdf',
        size: file.newer.size,
        target: 'case/t5',
        error: 'too large',
        attempts: 1,
      });
      assert.deepEqual([f.files.errors.rows[0].remoteSystem, f.files.errors.rows[0].remoteName], ['X', 'X']);
      const b = (await get('/rps-monitor/figures?remoteSystem=rs-b')).body as Figures;
      assert.deepEqual(b.files.counts.map((c) => c.remoteSystem), ['rs-b']);
      assert.deepEqual([b.files.errors.total, b.files.errors.rows.map((r) => r.id)], [2, [file.newer.id, file.older.id]]);
      const elsewhere = (await get(`/rps-monitor/figures?store=nothing`)).body as Figures;
      assert.deepEqual(elsewhere.files, { counts: [], errors: { total: 0, rows: [] } });
      // Prometheus: a gauge per remote system and status, read at the scrape.
      const parsed = parsePrometheus((await get('/rps-monitor/metrics')).body as string) as Sample[];
      const gauge = parsed.find((x) => x.name === 'rps_attachment_files');
      assert.equal(gauge?.type, 'GAUGE');
      const value = (remote: string, status: string): number | undefined => {
        const m = gauge?.metrics.find((x) => x.labels?.remote_system === remote && x.labels?.status === status);
        return m === undefined ? undefined : Number(m.value);
      };
      assert.deepEqual([value('rs-b', 'error'), value('rs-b', 'stored'), value('rs-b', 'wanted'), value('rs-b', 'requested'), value('rs-c', 'error')], [2, 1, 1, 0, 0]);
    });

    it('retries attachment files in error: back to wanted from the first byte, and the attachment service is woken', async () => {
      actions.length = 0;
      const answer = await post('/rps-monitor/files/retry', { store: storeId(key), ids: [file.older.id, file.refused.id, file.wanted.id] });
      assert.deepEqual(answer, { status: 200, body: { count: 1 } }, 'only the file in error');
      const again = await store.inboundFiles.get(file.older.id);
      assert.deepEqual([again?.status, again?.attempts, again?.received], ['wanted', 0, 0]);
      assert.equal((await store.inboundFiles.get(file.refused.id))?.status, 'refused');
      assert.deepEqual(actions, ['files requeued in this store', 'changed']);
      const f = (await get('/rps-monitor/figures')).body as Figures;
      assert.deepEqual(f.files.errors.rows.map((r) => r.id), [file.elsewhere.id, file.newer.id]);
      assert.equal(f.files.counts[0].counts.wanted, 2);
      actions.length = 0;
      assert.deepEqual(await post('/rps-monitor/files/retry', { store: storeId(key), ids: [file.older.id] }), { status: 200, body: { count: 0 } });
      assert.deepEqual(actions, ['changed'], 'nothing wanted again: the service is not woken');
    });

    it('refuses a file retry it cannot act on with 400 and a reason, and changes nothing', async () => {
      const before = await store.inboundFiles.counts();
      const id = file.newer.id;
      for (const body of [[], 'x', {}, { ids: [id] }, { store: storeId(key) }, { store: storeId(key), ids: [] }, { store: storeId(key), ids: [0] }, { store: storeId(key), ids: 'all' }, { store: storeId(key), ids: [1.5] }, { store: 7, ids: [id] }]) {
        const answer = await post('/rps-monitor/files/retry', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(typeof answer.body.error, 'string');
      }
      const unknown = await post('/rps-monitor/files/retry', { store: 'no-such-store', ids: [id] });
      assert.deepEqual(unknown, { status: 400, body: { error: 'api.unknown-store' } });
      assert.equal((await post('/rps-monitor/files/retry', { ids: [id] })).body.error, 'api.files-need-store');
      assert.deepEqual(await store.inboundFiles.counts(), before);
    });

    it('retries and skips selected rows, and every error row of a filter; the store has them so', async () => {
      actions.length = 0;
      const retried = await post('/rps-monitor/retry', { store: storeId(key), direction: 'outbound', ids: [errorOut] });
      assert.deepEqual(retried, { status: 200, body: { count: 1 } });
      const row = await store.outbound.get(errorOut);
      assert.equal(row?.status, 'ready');
      assert.equal(row?.retries, 1, 'counted as a retry');
      assert.deepEqual(actions, ['requeued outbound all', 'changed']);
      // Sent again and refused again (the others claimed with it go back as they were), then
      // skipped with every error row of remote B (both queues).
      const again = await store.outbound.claim('B', 10, Date.now() + 1000, 'owner', 3_600_000);
      assert.ok(again.some((r) => r.id === errorOut));
      await store.outbound.fail([{ id: errorOut, error: 'again', kind: 'refused' }], now);
      await store.outbound.retry(again.filter((r) => r.id !== errorOut).map((r) => ({ id: r.id, error: 'put back', nextAttemptAt: now, countTry: false })), now);
      const skipped = await post('/rps-monitor/skip', { all: true, remoteSystem: 'rs-b' });
      assert.deepEqual(skipped, { status: 200, body: { count: 2 } });
      assert.equal((await store.outbound.get(errorOut))?.status, 'skipped');
      assert.equal((await store.inbound.get(errorIn))?.status, 'skipped');
      assert.equal((await store.outbound.count('C')).ready, 2, "skip all takes error rows only, not C's ready rows");
      const f = (await get('/rps-monitor/figures')).body as Figures;
      assert.equal(f.errors.total, 0);
    });

    it('refuses what it cannot act on with 400 or 404 and a reason, and changes nothing', async () => {
      const before = await store.outbound.count();
      for (const body of [[], 'x', { ids: [1] }, { ids: [1], direction: 'outbound' }, { ids: [0], store: storeId(key), direction: 'outbound' }, { ids: 'all' }, { direction: 'sideways', all: true }, {}, { all: true, remoteSystem: 7 }]) {
        const answer = await post('/rps-monitor/retry', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.equal(typeof answer.body.error, 'string');
      }
      assert.equal((await post('/rps-monitor/skip', { all: true, store: 'no-such-store' })).status, 400);
      assert.equal((await get('/rps-monitor/figures?remoteSystem=')).status, 200, 'an empty filter is no filter');
      assert.deepEqual(await store.outbound.count(), before);
      const unknown = await post('/rps-monitor/remote/nobody/pause', {});
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.error, 'api.unknown-remote');
    });

    it('validates, pauses and resumes a remote system through its node', async () => {
      actions.length = 0;
      assert.deepEqual(await post('/rps-monitor/remote/rs-c/validate', {}), { status: 200, body: { ok: true } });
      assert.deepEqual(await post('/rps-monitor/remote/rs-c/pause', {}), { status: 200, body: { paused: true } });
      assert.deepEqual(await post('/rps-monitor/remote/rs-c/resume', {}), { status: 200, body: { paused: false } });
      assert.deepEqual(actions, ['validate rs-c', 'pause rs-c', 'changed', 'resume rs-c', 'changed']);
    });
  });
}

suite(
  'SQLite',
  async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'rps-monitor-')), 'store.sqlite')),
  (s) => s.close(),
);

const schemas = new TestSchemas();
suite(
  'PostgreSQL',
  async () => PostgresStore.open({ connectionString: TEST_PG_URL, schema: schemas.next(), pool: { max: 4 } }),
  async (s) => {
    await s.close();
    await schemas.drop();
  },
);
