/**
 * rps-delta-load between real Node-RED processes: A loads "incidents" from a REST source
 * (test/harness/records-source.ts, or a function node for source 'flow') through
 * capture → correlate → map → send to B, whose receiver flow writes them into a records
 * server. Checked: every record reaches B in its newest version; records that share one
 * timestamp across pages, that change during the load, and that are committed late inside
 * the look-back window are not lost; the watermark in A's store never goes backwards nor
 * past a record that is not queued; a SIGKILL repeats at most the page in flight plus the
 * look-back window; a source behind OAuth2 with 2-second tokens loads across their expiries.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { compareWatermarks, NO_WATERMARK, type Watermark } from '../../src/core/delta';
import { A_TO_B, B_TO_A, receiverFlow } from '../../tools/flows';
import type { FlowNode, NodeRedInstance } from '../../tools/nodered';
import { OAuthServer } from '../harness/oauth-server';
import { untilStores } from '../harness/pair';
import { Processes } from '../harness/processes';
import { assertRepeatsExplained, type RecordsServer } from '../harness/records';
import { atOrBefore, DELTA_NODE, DELTA_TABLE, deltaSenderFlow, RecordsSource, type ServedPage, title, type Version } from '../../tools/records-source';

const PAGE = 100;
/** Pages in flight: the node's default. A crash repeats at most these and the look-back window. */
const IN_FLIGHT = 1;
const LOOK_BACK_MS = 5_000;
const AUDIENCE = 'urn:rps:incidents';
const CLIENT = { clientId: 'desk-a-loader', clientSecret: 'as-secret-d3l7a' };
/** A's remote system for B retries and probes within moments (B is never away long here). */
const QUICK_RETRIES = { retryDelay: '0.2', retryMaxDelay: '2', probeInterval: '1' };

function storeOf(a: NodeRedInstance): Database.Database {
  return new Database(join(a.userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
}

/** A's watermark for the delta-load node, from its store (undefined: none yet, or the store is not there yet). */
function watermarkOf(a: NodeRedInstance): Watermark | undefined {
  let db: Database.Database | undefined;
  try {
    db = storeOf(a);
    const row = db.prepare('SELECT updated_after, id_after FROM rps_watermark WHERE node_id = ?').get(DELTA_NODE) as { updated_after: number | null; id_after: string | null } | undefined;
    return row && { updatedAfter: row.updated_after, idAfter: row.id_after };
  } catch {
    return undefined;
  } finally {
    db?.close();
  }
}

const show = (w: Watermark | undefined): string => (w?.updatedAfter == null ? 'none' : `${new Date(w.updatedAfter).toISOString()}/${w.idAfter ?? ''}`);

/**
 * Watches A's watermark (on every page the source serves, and when asked) against what
 * A has queued (its outbound rows): it must never go backwards, and never pass a version
 * the source served that is not queued yet. A version served while the watermark was
 * already at or past it (a late commit read again in the look-back window) holds the
 * watermark where it is until it is queued.
 */
class WatermarkWatch {
  readonly violations: string[] = [];
  readonly samples: Watermark[] = [];
  private readonly queued = new Set<string>();
  private lastRow = 0;
  /** Served versions not seen queued yet, with the watermark when they were served. */
  private pending: { v: Version; served: Watermark }[] = [];

  constructor(private readonly a: NodeRedInstance) {}

  get last(): Watermark {
    return this.samples.at(-1) ?? NO_WATERMARK;
  }

  /** Versions served and not queued (yet). */
  get unqueued(): Version[] {
    this.observe();
    return this.pending.map((p) => p.v);
  }

  served(page: ServedPage): void {
    const served = watermarkOf(this.a) ?? this.last;
    for (const v of page.records) this.pending.push({ v, served });
    this.observe();
  }

  observe(): void {
    const w = watermarkOf(this.a);
    if (!w) return;
    const before = this.last;
    if (compareWatermarks(w, before) < 0) this.violations.push(`the watermark went back from ${show(before)} to ${show(w)}`);
    this.samples.push(w);
    this.readQueued();
    this.pending = this.pending.filter(({ v, served }) => {
      if (this.queued.has(`${v.id}/${v.n}`)) return false;
      if (atOrBefore(v, w) && compareWatermarks(w, served) > 0) {
        this.violations.push(`the watermark ${show(w)} passed incident ${v.id} v${v.n} (updated ${new Date(v.updated).toISOString()}), which is not queued`);
        return false;
      }
      return true;
    });
  }

  private readQueued(): void {
    let db: Database.Database | undefined;
    try {
      db = storeOf(this.a);
      const rows = db.prepare('SELECT id, record_id, payload FROM rps_outbound WHERE id > ? AND record_table = ? ORDER BY id').all(this.lastRow, DELTA_TABLE) as {
        id: number;
        record_id: string;
        payload: string;
      }[];
      for (const r of rows) {
        const fields = (JSON.parse(r.payload) as { fields: { n?: number } }).fields;
        this.queued.add(`${r.record_id}/${fields.n}`);
        this.lastRow = r.id;
      }
    } catch {
      // Not there yet (A has not opened its store), or busy: the next observation reads it.
    } finally {
      db?.close();
    }
  }
}

/** rps-delta-load on the REST source, paging as the checks here assume. */
function restLoad(src: RecordsSource): Record<string, unknown> {
  return { url: RecordsSource.query(src.url), pageSize: String(PAGE), pagesInFlight: String(IN_FLIGHT), lookBack: String(LOOK_BACK_MS / 1000) };
}

/** How many of these versions are in A's outbound queue (rows in its store). */
function queuedOf(a: NodeRedInstance, versions: readonly Version[]): number {
  let db: Database.Database | undefined;
  try {
    db = storeOf(a);
    const ids = new Set(versions.map((v) => `${v.id}/${v.n}`));
    const rows = db.prepare('SELECT record_id, payload FROM rps_outbound WHERE record_table = ? AND record_id IN (SELECT value FROM json_each(?))').all(DELTA_TABLE, JSON.stringify(versions.map((v) => String(v.id)))) as { record_id: string; payload: string }[];
    return rows.filter((r) => ids.has(`${r.record_id}/${(JSON.parse(r.payload) as { fields: { n?: number } }).fields.n}`)).length;
  } catch {
    return 0;
  } finally {
    db?.close();
  }
}

/** Polls A's store every `everyMs` until at least `count` of these versions are queued. */
async function untilQueued(a: NodeRedInstance, versions: readonly Version[], count: number, timeoutMs: number, everyMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (queuedOf(a, versions) < count) {
    if (Date.now() > deadline) throw new Error(`A did not queue ${count} of incidents ${versions[0]?.id}…${versions.at(-1)?.id} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Incidents on B whose newest version is not there (the first `max` of them). */
function behind(records: RecordsServer, versions: Iterable<Version>, max = 5): string[] {
  const out: string[] = [];
  for (const v of versions) {
    const local = records.bySource.get(`${DELTA_TABLE}/${v.id}`);
    const fields = local ? records.records.get(local)?.fields : undefined;
    if (fields?.n !== v.n || fields.name !== title(v.id, v.n)) out.push(`incident ${v.id}: v${v.n} expected, B has ${fields ? `v${String(fields.n)}` : 'nothing'}`);
    if (out.length >= max) break;
  }
  return out;
}

/** Resolves once B has the newest version of every incident (re-checked on every write B applies). */
function allOnB(records: RecordsServer, versions: () => Iterable<Version>, count: () => number, timeoutMs: number, what: string): Promise<void> {
  return records.waitFor(() => records.written.length >= count() && behind(records, versions(), 1).length === 0, timeoutMs, what);
}

/** Errors A's delta load logged (a run that failed). */
function loadErrors(a: NodeRedInstance): string[] {
  return a.log.filter((l) => /\[error\] \[rps-delta-load:/.test(l));
}

/** Writes B applied more than once for the same version of an incident. */
function repeatsOnB(records: RecordsServer): number {
  const versions = new Set(records.written.map((w) => `${w.recordId}/${String(w.fields.n)}`));
  return records.written.length - versions.size;
}

/** The incident of each write B applied again for a version it had (one entry per extra write). */
function repeatedIncidents(records: RecordsServer): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (const w of records.written) {
    const key = `${w.recordId}/${String(w.fields.n)}`;
    if (seen.has(key)) out.push(Number(records.records.get(w.recordId)!.source.replace(`${DELTA_TABLE}/`, '')));
    seen.add(key);
  }
  return out;
}

/** Ids spread over the source: some loaded already, some not, some in the shared-timestamp block. */
function spread(count: number, seed: number, of: number): number[] {
  return Array.from({ length: count }, (_, k) => ((seed * 7919 + k * 1031) % of) + 1);
}

describe('delta load (real Node-RED processes)', function () {
  this.timeout(600_000);
  const processes = new Processes();
  let source: RecordsSource | undefined;
  let as: OAuthServer | undefined;
  let ticker: NodeJS.Timeout | undefined;

  afterEach(async function () {
    clearInterval(ticker);
    await processes.stopAfter(this.currentTest);
    await source?.stop();
    await as?.stop();
    source = as = ticker = undefined;
  });

  /** Starts the source, B (receiver flow into a records server) and A (not deployed yet). */
  async function start(src?: RecordsSource): Promise<{ a: NodeRedInstance; b: NodeRedInstance; records: RecordsServer }> {
    source = src;
    await src?.start();
    const [records] = await processes.records(1);
    const [a, b] = await processes.nodeRed('A', 'B');
    await b.deploy(receiverFlow({ remoteUrl: a.url, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl: records.url }));
    return { a, b, records };
  }

  function senderFlow(b: NodeRedInstance, load: Record<string, unknown>, more: { config?: FlowNode[]; pageSource?: FlowNode[] } = {}): FlowNode[] {
    return deltaSenderFlow({ load, remoteUrl: b.url, outbound: A_TO_B, inbound: B_TO_A, remote: QUICK_RETRIES, ...more });
  }

  it('10,000 incidents (2,000 sharing one timestamp), changed and committed late during the load: each reaches B in its newest version; the watermark never goes back nor past unqueued work', async () => {
    const src = new RecordsSource();
    src.create(10_000, { shared: 2_000, spacingMs: 100 });
    const { a, b, records } = await start(src);
    const watch = new WatermarkWatch(a);
    let changedDuringLoad = 0;
    src.on('page', (page) => {
      watch.served(page);
      // While the first run pages through, records change: loaded ones, coming ones, shared-timestamp ones.
      if (page.page <= 95 && page.page % 10 === 5) {
        for (const id of spread(25, page.page, 10_000)) src.update(id);
        changedDuringLoad += 25;
      }
      // And the source fails now and then: 503s, a connection closed without an answer.
      if (page.page === 30) src.failNext(2, 'status-503');
      if (page.page === 60) src.failNext(1, 'close');
    });
    ticker = setInterval(() => watch.observe(), 100);
    await a.deploy(senderFlow(b, restLoad(src)));
    await allOnB(records, () => src.versions(), () => src.size, 300_000, 'every incident on B in its newest version');
    console.log(`      initial load: ${src.pages} pages (${src.requests} requests, ${src.injected} failed on purpose), ${changedDuringLoad} changes during the load, ${records.written.length} writes on B`);

    // Late commits: records that become visible only after the watermark has passed their time.
    let late = 0;
    for (let round = 0; round < 3; round++) {
      const changed = spread(20, 100 + round, 10_000).map((id) => src.update(id));
      const newest = changed.reduce((x, y) => (y.updated > x.updated || (y.updated === x.updated && y.id > x.id) ? y : x));
      await untilStores(`the watermark at the newest change (round ${round + 1})`, () => atOrBefore(newest, watermarkOf(a) ?? NO_WATERMARK), 120_000);
      const w = watermarkOf(a)!;
      for (let k = 0; k < 5; k++) src.lateCommit(w.updatedAfter! - 1_000 - 10 * k);
      late += 5;
      await allOnB(records, () => src.versions(), () => src.size, 120_000, `the late commits of round ${round + 1} on B`);
    }

    await untilStores('the watermark at the last incident', () => {
      watch.observe();
      const last = [...src.versions()].at(-1)!;
      return compareWatermarks(watch.last, { updatedAfter: last.updated, idAfter: String(last.id) }) === 0;
    }, 60_000);
    assert.deepEqual(behind(records, src.versions()), [], 'every incident on B in its newest version');
    assert.equal(src.size, 10_000 + late);
    assert.deepEqual(watch.violations, [], 'the watermark never went back nor past unqueued work');
    assert.deepEqual(watch.unqueued, [], 'every version served was queued');
    assert.deepEqual(src.badRequests, [], 'every query was one the source could read');
    assert.deepEqual(records.outOfOrder, [], 'versions of each incident applied in order');
    assertRepeatsExplained(records);
    assert.deepEqual(loadErrors(a), [], 'no run of the load failed');
    console.log(`      ${late} late commits; ${src.pages} pages in all; ${watch.samples.length} watermark samples; ${repeatsOnB(records)} repeated version(s) on B`);
  });

  it('A killed with SIGKILL in the middle of a page, twice: nothing missing on B; repeats bounded by one page plus the look-back window', async () => {
    const src = new RecordsSource();
    src.create(10_000, { shared: 2_000, spacingMs: 100 });
    const { a, b, records } = await start(src);
    const watch = new WatermarkWatch(a);
    // Per kill: the watermark A restarts from, the look-back window before it (records), the
    // last record served before A died, and the repeats on B that fall between the two.
    const kills: { atPage: number; watermark: string; lookBack: number; bound: number; repeats: number; from: number; upTo: Version; queued: number }[] = [];
    let restarts: Promise<void> = Promise.resolve();
    let killAt = 25;
    // The last record the source served: A may have taken pages after the one that set a kill off.
    let lastServed: Version | undefined;
    src.on('page', (page) => {
      watch.served(page);
      lastServed = page.records.at(-1) ?? lastServed;
      if (kills.length >= 2 || page.page < killAt || !a.running) return;
      // The page has just been answered: A is taking it in when it dies. The first time at
      // once, the second time once part of the page is in its outbound queue.
      const kill = { atPage: page.page, watermark: '', lookBack: 0, bound: 0, repeats: 0, from: 0, upTo: page.records.at(-1)!, queued: 0 };
      const second = kills.length === 1;
      kills.push(kill);
      restarts = restarts.then(async () => {
        if (second) {
          await untilQueued(a, page.records, 1, 60_000, 5);
          kill.queued = queuedOf(a, page.records);
        }
        kill.upTo = lastServed ?? kill.upTo;
        await a.kill();
        if (second) kill.queued = Math.max(kill.queued, queuedOf(a, page.records));
        const w = watermarkOf(a) ?? NO_WATERMARK;
        kill.watermark = show(w);
        kill.from = (w.updatedAfter ?? 0) - LOOK_BACK_MS;
        kill.lookBack = w.updatedAfter === null ? 0 : src.countBetween(kill.from, w);
        kill.bound = kill.lookBack + IN_FLIGHT * PAGE;
        await a.launch();
      });
      killAt = page.page + 20;
    });
    ticker = setInterval(() => watch.observe(), 100);
    await a.deploy(senderFlow(b, restLoad(src)));
    await allOnB(records, () => src.versions(), () => src.size, 300_000, 'every incident on B');
    await restarts;
    assert.equal(kills.length, 2, 'A was killed twice during the load');
    const unexplained: number[] = [];
    for (const id of repeatedIncidents(records)) {
      const v = src.version(id);
      const kill = kills.find((k) => v.updated >= k.from && atOrBefore(v, { updatedAfter: k.upTo.updated, idAfter: String(k.upTo.id) }));
      if (kill) kill.repeats += 1;
      else unexplained.push(id);
    }
    const figures = kills.map(({ atPage, watermark, lookBack, bound, repeats, queued }) => ({ atPage, queuedOfPage: queued, watermark, lookBack, bound, repeats }));
    console.log(`      kills: ${JSON.stringify(figures)}; ${src.pages} pages served; ${records.written.length} writes on B for 10,000 incidents`);
    assert.deepEqual(behind(records, src.versions()), [], 'nothing missing on B');
    assert.deepEqual(unexplained, [], 'every repeat was of a record between the look-back start and the last one served before a kill');
    for (const k of kills) assert.ok(k.repeats <= k.bound, `kill at page ${k.atPage}: ${k.repeats} repeats within one page plus the look-back window (${k.bound})`);
    assert.deepEqual(watch.violations, [], 'the watermark never went back nor past unqueued work');
    assert.deepEqual(records.outOfOrder, [], 'versions of each incident applied in order');
    assertRepeatsExplained(records);
    assert.deepEqual(loadErrors(a), [], 'no run of the load failed');
  });

  it('a source behind a real OAuth2 server with 2-second tokens: the load goes on across their expiries', async () => {
    as = await OAuthServer.start({ accessTokenTtl: 2, clients: [CLIENT], audience: AUDIENCE });
    // The source's clock runs ahead: it refuses tokens issued more than 1.25 s ago (iat is in whole
    // seconds, so a token fresh from the server is always taken), and A must also renew on 401.
    const src = new RecordsSource({ issuer: as.issuer, audience: AUDIENCE, jwksUrl: as.jwksUrl, maxAgeSec: 1.25 });
    src.create(3_000, { shared: 500, spacingMs: 100 });
    const { a, b, records } = await start(src);
    // The source keeps changing until A has used several tokens: the load spans their expiries.
    const TOKENS = 4;
    src.on('page', (page) => {
      if (src.tokensAccepted.size < TOKENS) for (const id of spread(5, page.page, 3_000)) src.update(id);
    });
    const sourceSystem: FlowNode = {
      id: 'rs-src',
      type: 'rps-remote-system',
      name: 'Incidents',
      url: src.url,
      authType: 'oauth2-client',
      tokenUrl: as.tokenUrl,
      clientId: CLIENT.clientId,
      credentials: { clientSecret: CLIENT.clientSecret },
    };
    await a.deploy(senderFlow(b, { url: RecordsSource.query(''), remoteSystem: 'rs-src', pageSize: String(PAGE) }, { config: [sourceSystem] }));
    await allOnB(records, () => src.versions(), () => src.size, 300_000, 'every incident on B');
    await untilStores(`${TOKENS} tokens used by the load`, () => src.tokensAccepted.size >= TOKENS, 120_000);
    await allOnB(records, () => src.versions(), () => src.size, 120_000, 'every change on B');
    const tokens = as.tokenRequests();
    console.log(`      ${src.pages} pages with ${src.tokensAccepted.size} distinct tokens; ${src.unauthorized} request(s) answered 401; token requests ${JSON.stringify(tokens)}`);
    assert.deepEqual(behind(records, src.versions()), [], 'every incident on B in its newest version');
    assert.equal(tokens.failed, 0, 'no token request failed');
    assert.ok(tokens.client_credentials >= TOKENS, 'tokens were renewed as they expired');
    assert.deepEqual(loadErrors(a), [], 'no run of the load failed');
  });

  it("any source ('flow'): page requests on output 2 answered by a function node; records reach B, and a change made later too", async () => {
    const { a, b, records } = await start();
    const COUNT = 1_500;
    // The page source: an array in flow context (3 records per timestamp), answered with the keyset rule of the spec.
    const answer = `
let rows = flow.get('incidents');
if (!rows) {
  const base = Date.parse('2026-01-01T00:00:00.000Z');
  rows = [];
  for (let i = 1; i <= ${COUNT}; i++) rows.push({ id: i, updated_at: new Date(base + Math.floor((i - 1) / 3) * 1000).toISOString(), title: 'Incident ' + i + ' v1', n: 1 });
  flow.set('incidents', rows);
}
if (!msg.rps || msg.rps.direction !== 'load-request') { node.error('not a page request', msg); return null; }
const q = msg.payload;
const t = q.updatedAfter === '' ? null : Date.parse(q.updatedAfter);
const after = (r) => {
  const u = Date.parse(r.updated_at);
  if (t === null) return true;
  if (q.idAfter === '') return u >= t;
  return u > t || (u === t && r.id > Number(q.idAfter));
};
const page = rows.filter(after).sort((x, y) => Date.parse(x.updated_at) - Date.parse(y.updated_at) || x.id - y.id).slice(0, q.limit);
flow.set('pages', (flow.get('pages') || 0) + 1);
msg.payload = page;
return msg;`;
    const touch = `
const rows = flow.get('incidents');
for (const id of msg.payload.ids) {
  const r = rows.find((x) => x.id === id);
  r.n += 1;
  r.updated_at = new Date().toISOString();
  r.title = 'Incident ' + r.id + ' v' + r.n;
}
msg.payload = { ok: true };
return msg;`;
    const pageSource: FlowNode[] = [
      { id: 'page', type: 'function', name: 'page from memory', func: answer, outputs: 1, x: 550, y: 200, wires: [[DELTA_NODE]] },
      { id: 'touch-in', type: 'http in', url: '/source/touch', method: 'post', x: 100, y: 300, wires: [['touch']] },
      { id: 'touch', type: 'function', name: 'change records', func: touch, outputs: 1, x: 300, y: 300, wires: [['touch-ok']] },
      { id: 'touch-ok', type: 'http response', statusCode: '200', x: 500, y: 300, wires: [] },
    ];
    const versions = new Map<number, Version>(Array.from({ length: COUNT }, (_, i) => [i + 1, { id: i + 1, updated: 0, n: 1 }]));
    await a.deploy(senderFlow(b, { source: 'flow', url: '', pageSize: String(PAGE) }, { pageSource }));
    await allOnB(records, () => versions.values(), () => COUNT, 180_000, `${COUNT} incidents on B`);

    // A change in the source: the next scheduled run brings the new versions.
    const touched = spread(30, 7, COUNT);
    const res = await fetch(`${a.url}/source/touch`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ids: touched }) });
    assert.equal(res.status, 200);
    for (const id of touched) versions.get(id)!.n += 1;
    await allOnB(records, () => versions.values(), () => COUNT + touched.length, 120_000, 'the changed incidents on B');
    assert.deepEqual(behind(records, versions.values()), []);
    assert.deepEqual(records.outOfOrder, []);
    // The first run starts as the flow starts: its page request must reach the page source.
    assert.deepEqual(loadErrors(a), [], 'no run of the load failed');
    console.log(`      ${COUNT} incidents through a function-node source, ${touched.length} changed later: ${records.written.length} writes on B, ${repeatsOnB(records)} repeated`);
  });
});
