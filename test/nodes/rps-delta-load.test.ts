/**
 * rps-delta-load in a Node-RED runtime (the test helper): the flow as page source (the
 * test answers each page request from a table kept in order), the records going on to
 * capture and send, and what the store's watermark holds at each step.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { makeTestCerts } from '../harness/certs';
import type { AddressInfo } from 'node:net';
import { closeServer } from '../../tools/http';
import { assertPgReachable, pgQuery, TEST_PG_URL, TestSchemas } from '../../tools/pg';
import { callsOf, type FlowNode, guard, type Msg, setup, textOf, useNodeRed, waitForCall, type Rps, type OutboundRecord } from './helper';

interface Row {
  id: number;
  updated_at: string;
  title: string;
  created_at?: string;
}

interface PageAsk {
  updatedAfter: string;
  idAfter: string;
  limit: number;
  updatedAfterMs: number | null;
}

/** The source's keyset rule over rows in (updated_at, id) order, as the help tells users to write it. */
function page(rows: readonly Row[], ask: PageAsk): Row[] {
  const after = (r: Row): boolean => {
    if (ask.updatedAfter === '') return true;
    if (ask.idAfter === '') return r.updated_at >= ask.updatedAfter;
    return r.updated_at > ask.updatedAfter || (r.updated_at === ask.updatedAfter && r.id > Number(ask.idAfter));
  };
  return [...rows]
    .sort((a, b) => (a.updated_at < b.updated_at ? -1 : a.updated_at > b.updated_at ? 1 : a.id - b.id))
    .filter(after)
    .slice(0, ask.limit);
}

const T0 = Date.parse('2026-12-01T00:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

/** n rows, ids 1..n, one second apart, with `shared` of them at one time. */
function rows(n: number, shared = 0): Row[] {
  return Array.from({ length: n }, (_, i) => ({ id: i + 1, updated_at: at(i < shared ? 0 : i * 1000), title: `row ${i + 1}` }));
}

interface WatermarkRow {
  node_id: string;
  updated_after: number | null;
  id_after: string | null;
}

function watermark(rps: Rps): WatermarkRow | undefined {
  return rps.query<WatermarkRow>('SELECT node_id, updated_after, id_after FROM rps_watermark WHERE node_id = ?', 'dl')[0];
}

function queued(rps: Rps): { id: string; operation: string }[] {
  return rps.query<OutboundRecord>('SELECT * FROM rps_outbound ORDER BY id').map((r) => {
    const m = JSON.parse(r.payload) as { source: { id: string }; operation: string };
    return { id: m.source.id, operation: m.operation };
  });
}

/** delta load (flow source, run on input) → capture → send; its page requests answered from `table`. */
function loadFlow(extra: Record<string, unknown> = {}, to: string[] = ['cap']): FlowNode[] {
  return [
    { id: 'dl', type: 'rps-delta-load', source: 'flow', schedule: 'input', runOnStart: false, pageSize: 100, lookBack: 5, recordTimeout: 60, store: 'st', ...extra, wires: [to, ['pages']] },
    { id: 'pages', type: 'helper' },
    { id: 'cap', type: 'rps-capture', table: 'incident', idField: 'id', store: 'st', wires: [['snd']] },
    { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['sent']] },
    { id: 'sent', type: 'helper' },
  ];
}

/** Answers every page request from `table()` (read at the time of the request). */
function answerPages(rps: Rps, table: () => readonly Row[]): { asks: PageAsk[] } {
  const asks: PageAsk[] = [];
  rps.node('pages').on('input', (msg: Msg) => {
    const ask = msg.payload as PageAsk;
    asks.push(ask);
    rps.node('dl').receive({ ...msg, payload: page(table(), ask) });
  });
  return { asks };
}

/** Resolves at the next status of the delta load whose text includes `text`. */
function statusWith(rps: Rps, text: string): Promise<unknown[]> {
  return waitForCall(rps.node('dl'), 'status', (args) => textOf((args[0] as { text?: unknown }).text).includes(text));
}

/** The run's end: a green (or red) status after `before` status calls. */
async function runEnd(rps: Rps, before: number): Promise<{ fill: string; text: string }> {
  const node = rps.node('dl');
  const ended = (): { fill: string; text: string } | undefined =>
    callsOf(node, 'status')
      .slice(before)
      .map((a) => a[0] as { fill: string; text: string })
      .find((s) => s.fill === 'green' || (s.fill === 'red' && s.text !== undefined));
  await guard(
    (async () => {
      while (!ended()) await new Promise((r) => setImmediate(r));
    })(),
    'the run ends',
  );
  return ended()!;
}

async function run(rps: Rps): Promise<{ fill: string; text: string }> {
  const before = callsOf(rps.node('dl'), 'status').length;
  rps.node('dl').receive({ action: 'run' });
  return runEnd(rps, before);
}

describe('rps-delta-load node', function () {
  useNodeRed();

  it('loads every record through capture into the outbound queue, page by page, and keeps the watermark at the last one queued', async () => {
    const table = rows(250, 120);
    const rps = await setup(loadFlow(), { renderParams: true });
    const { asks } = answerPages(rps, () => table);
    const end = await run(rps);
    assert.equal(end.fill, 'green', end.text);
    const q = queued(rps);
    assert.equal(q.length, 250, 'every record queued once');
    assert.deepEqual(new Set(q.map((r) => r.id)).size, 250);
    assert.ok(q.every((r) => r.operation === 'insert'), 'an initial load inserts');
    // Pages of 100 on (updated, id): the 120 records of one time are split by id, not skipped.
    assert.deepEqual(asks.map((a) => [a.updatedAfter, a.idAfter, a.limit]), [
      ['', '', 100],
      [at(0), '100', 100],
      [at(199_000), '200', 100],
    ]);
    assert.deepEqual(watermark(rps), { node_id: 'dl', updated_after: T0 + 249_000, id_after: '250' });
  });

  it('reads the look-back window again on the next run: records seen are dropped, a late commit and a changed record come', async () => {
    const table = rows(50);
    const rps = await setup(loadFlow({ lookBack: 10 }), { renderParams: true });
    const { asks } = answerPages(rps, () => table);
    await run(rps);
    assert.equal(queued(rps).length, 50);
    // A record committed late, with a time 3 s before the watermark; and record 49 changed.
    table.push({ id: 51, updated_at: at(46_500), title: 'late' });
    table[48] = { ...table[48], updated_at: at(60_000), title: 'changed' };
    const end = await run(rps);
    assert.equal(end.fill, 'green', end.text);
    assert.equal(asks.at(-1)!.updatedAfter, at(49_000 - 10_000), 'the run starts 10 s before the watermark, with no id');
    assert.deepEqual(queued(rps).slice(50), [{ id: '51', operation: 'update' }, { id: '49', operation: 'update' }], 'only what is new in the window');
    assert.deepEqual(watermark(rps), { node_id: 'dl', updated_after: T0 + 60_000, id_after: '49' });
  });

  it('counts a change capture ignores as done, so the watermark moves past it', async () => {
    const table = rows(10);
    const rps = await setup(loadFlow({}, ['cap']).map((n) => (n.id === 'cap' ? { ...n, insert: false } : n)), { renderParams: true });
    answerPages(rps, () => table);
    const end = await run(rps);
    assert.equal(end.fill, 'green', end.text);
    assert.equal(queued(rps).length, 0, 'inserts are not captured');
    assert.deepEqual(watermark(rps), { node_id: 'dl', updated_after: T0 + 9_000, id_after: '10' });
  });

  it('never moves the watermark past a record the flow has not ended: the run stops after the record timeout, naming it', async () => {
    const table = rows(5);
    // Output 1 goes to a helper that ends nothing: records 1..5 are never queued.
    const rps = await setup(loadFlow({ recordTimeout: 1 }, ['held']).concat([{ id: 'held', type: 'helper' }]), { renderParams: true });
    answerPages(rps, () => table);
    const held = rps.collect('held');
    const before = callsOf(rps.node('dl'), 'status').length;
    rps.node('dl').receive({ action: 'run' });
    const msgs = await held.wait(5);
    // The flow acknowledges records 1 and 2 by sending them back (a branch that ends records on purpose).
    rps.node('dl').receive(msgs[0]);
    rps.node('dl').receive(msgs[1]);
    const end = await runEnd(rps, before);
    assert.equal(end.fill, 'red');
    assert.match(end.text, /3/, 'the status names the first record not done');
    assert.deepEqual(watermark(rps), { node_id: 'dl', updated_after: T0 + 1_000, id_after: '2' }, 'up to the last record acknowledged');
    assert.ok(callsOf(rps.node('dl'), 'error').some((a) => textOf(a[0]).includes('3')), 'the error is logged (Catch nodes get it)');
  });

  it('stops the run at a record capture refuses, with the watermark before it', async () => {
    const table: Row[] = [...rows(3), { id: 4, updated_at: at(5_000), title: 'x' }];
    // Capture's id field is absent on every record: each change is invalid.
    const rps = await setup(loadFlow().map((n) => (n.id === 'cap' ? { ...n, idField: 'number' } : n)), { renderParams: true });
    answerPages(rps, () => table);
    const end = await run(rps);
    assert.equal(end.fill, 'red');
    assert.match(end.text, /errors\.failed.*\b1\b.*has no/, 'names the record and why capture refused it');
    assert.equal(watermark(rps), undefined);
  });

  it('applies the initial filter to the initial load only, and chooses update for records created before the watermark', async () => {
    const table = rows(6).map((r) => ({ ...r, created_at: r.updated_at, title: r.id % 2 === 0 ? 'open' : 'closed' }));
    const rps = await setup(loadFlow({ initialFilter: "title = 'open'", createdField: 'created_at' }), { renderParams: true });
    answerPages(rps, () => table);
    await run(rps);
    assert.deepEqual(queued(rps).map((r) => r.id), ['2', '4', '6'], 'only open records in the initial load');
    assert.deepEqual(watermark(rps)?.id_after, '6', 'the records left out count as done');
    // After the initial load: record 1 closed changes (created long ago: update), record 7 is new (insert).
    table[0] = { ...table[0], updated_at: at(20_000) };
    table.push({ id: 7, updated_at: at(21_000), created_at: at(21_000), title: 'closed' });
    await run(rps);
    assert.deepEqual(queued(rps).slice(3), [{ id: '1', operation: 'update' }, { id: '7', operation: 'insert' }]);
  });

  it('resets the watermark to a time or to nothing, pauses and resumes, and refuses unknown actions', async () => {
    const table = rows(20);
    const rps = await setup(loadFlow(), { renderParams: true });
    answerPages(rps, () => table);
    await run(rps);
    assert.equal(queued(rps).length, 20);
    rps.node('dl').receive({ action: 'reset', payload: at(15_000) });
    await statusWith(rps, 'reset');
    assert.deepEqual(watermark(rps), { node_id: 'dl', updated_after: T0 + 15_000, id_after: null });
    await run(rps);
    assert.deepEqual(queued(rps).slice(20).map((r) => r.id), ['11', '12', '13', '14', '15', '16', '17', '18', '19', '20'], 'from the time on, with the look-back window before it');
    rps.node('dl').receive({ action: 'reset' });
    await statusWith(rps, 'reset');
    assert.equal(watermark(rps), undefined);
    rps.node('dl').receive({ action: 'pause' });
    await statusWith(rps, 'paused');
    rps.node('dl').receive({ action: 'jump' });
    const caught = await rps.caught.wait(1);
    assert.match(textOf((caught[0].error as { message?: unknown }).message), /jump/);
    rps.node('dl').receive({ action: 'reset', payload: 'yesterday' });
    await rps.caught.wait(2);
  });

  it('reports a page the flow answers with an error, and a page out of order, as a stopped run', async () => {
    const rps = await setup(loadFlow(), { renderParams: true });
    let mode: 'error' | 'disorder' = 'error';
    rps.node('pages').on('input', (msg: Msg) => {
      if (mode === 'error') rps.node('dl').receive({ ...msg, error: { message: 'relation "incidents" does not exist' } });
      else rps.node('dl').receive({ ...msg, payload: [{ id: 2, updated_at: at(5_000) }, { id: 1, updated_at: at(1_000) }] });
    });
    let end = await run(rps);
    assert.equal(end.fill, 'red');
    assert.match(end.text, /page-error.*does not exist/);
    mode = 'disorder';
    end = await run(rps);
    assert.equal(end.fill, 'red');
    assert.match(end.text, /order/);
    assert.equal(queued(rps).length, 0);
  });

  it('refuses settings that cannot work, with the reason', async () => {
    const rps = await setup([
      { id: 'dl', type: 'rps-delta-load', source: 'rest', url: '', store: 'st', wires: [[], []] },
      { id: 'dl2', type: 'rps-delta-load', source: 'flow', schedule: 'cron', cron: 'every day', store: 'st', wires: [[], []] },
      { id: 'dl3', type: 'rps-delta-load', source: 'rest', url: 'http://127.0.0.1:9/incidents', store: 'st', wires: [[], []] },
    ], { renderParams: true });
    const errors = (id: string): string => callsOf(rps.node(id), 'error').map((a) => textOf(a[0])).join('\n');
    assert.notEqual(errors('dl'), '');
    assert.match(errors('dl2'), /every day/);
    assert.match(errors('dl3'), /no-placeholder/);
    rps.node('dl').receive({ action: 'run' });
    await rps.caught.wait(1);
  });
});

/** A REST source answering from a list of canned answers (status, body), recording each request. */
class CannedSource {
  readonly requests: { url: string; headers: Record<string, string | string[] | undefined> }[] = [];
  private readonly server: Server;

  constructor(private readonly answers: { status: number; body: string; headers?: Record<string, string> }[]) {
    this.server = createServer((req, res) => {
      // Only the delta load's requests: the remote system may probe its own rps/1 routes.
      if (!req.url?.startsWith('/api/')) {
        res.writeHead(404).end();
        return;
      }
      this.requests.push({ url: req.url ?? '', headers: req.headers });
      const a = this.answers.length > 1 ? this.answers.shift()! : this.answers[0];
      res.writeHead(a.status, { 'Content-Type': 'application/json', ...a.headers });
      res.end(a.body);
    });
  }

  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

describe('rps-delta-load node, REST source', function () {
  useNodeRed();
  let source: CannedSource | undefined;
  afterEach(async () => {
    await source?.close();
    source = undefined;
  });

  /** delta load (REST through remote system 'rs' at the source's URL) → capture → send. */
  async function restSetup(answers: { status: number; body: string; headers?: Record<string, string> }[], extra: Record<string, unknown> = {}): Promise<Rps> {
    source = new CannedSource(answers);
    const url = await source.start();
    const flow = loadFlow({ source: 'rest', remoteSystem: 'rs', url: '/api/incidents?after={updatedAfter}&id={idAfter}&n={limit}', ...extra }).map((n) =>
      n.id === 'cap' ? { ...n, idField: (extra.idField as string | undefined) ?? 'id' } : n,
    );
    return setup(flow, { url, renderParams: true, remote: { authType: 'basic', retryDelay: 0.01, retryMaxDelay: 0.05 } });
  }

  it('calls the URL with the placeholders filled, the remote system\'s credentials and the headers, and reads the records at the path', async () => {
    const body = JSON.stringify({ data: { items: [{ sys_id: 'a1', ts: 1_764_547_200_000 }, { sys_id: 'a2', ts: 1_764_547_201_000 }] } });
    const rps = await restSetup([{ status: 200, body }], { idField: 'sys_id', updatedField: 'ts', timeFormat: 'epoch-ms', recordsPath: 'data.items', headers: [{ name: 'X-Tenant', value: 'north' }] });
    const end = await run(rps);
    assert.equal(end.fill, 'green', end.text);
    assert.deepEqual(queued(rps).map((r) => r.id), ['a1', 'a2']);
    const [req] = source!.requests;
    assert.equal(req.url, '/api/incidents?after=&id=&n=100');
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);
    assert.equal(req.headers['x-tenant'], 'north');
    // The next run starts the look-back window (5 s) before the watermark, in the source's format.
    await run(rps);
    assert.equal(source!.requests[1].url, `/api/incidents?after=${1_764_547_201_000 - 5_000}&id=&n=100`);
  });

  it('retries a source that answers 503, and goes on when it answers', async () => {
    const ok = JSON.stringify([{ id: 1, updated_at: at(0) }]);
    const rps = await restSetup([{ status: 503, body: '{"error":"restarting"}' }, { status: 503, body: 'busy' }, { status: 200, body: ok }], { recordsPath: '' });
    const retrying = statusWith(rps, 'retrying');
    const end = await run(rps);
    await retrying;
    assert.equal(end.fill, 'green', end.text);
    assert.equal(source!.requests.length, 3);
    assert.deepEqual(queued(rps).map((r) => r.id), ['1']);
  });

  it('stops the run at a 4xx that asking again will not heal, and at an answer that is not JSON', async () => {
    const rps = await restSetup([{ status: 404, body: '{"error":"no such table"}' }], { recordsPath: 'result' });
    let end = await run(rps);
    assert.equal(end.fill, 'red');
    assert.match(end.text, /errors\.http.*404.*no such table/);
    assert.equal(source!.requests.length, 1, 'not asked again in this run');
    await source!.close();
    source = new CannedSource([{ status: 200, body: '<html>login</html>' }]);
    const url = await source.start();
    await rps.redeploy((flow) => {
      const rs = flow.find((n) => n.id === 'rs')!;
      rs.url = url;
    });
    end = await run(rps);
    assert.match(end.text, /not-json/);
  });
});

describe('rps-delta-load node, REST source over https', function () {
  useNodeRed();

  it('reads an https source whose certificate a tls-config node trusts; without it, retries with the certificate error in its status', async () => {
    const certs = await makeTestCerts();
    const server = createHttpsServer({ cert: certs.server.cert, key: certs.server.key }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify([{ id: 1, updated_at: at(0) }]));
    });
    try {
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/incidents?after={updatedAfter}`;
      const rps = await setup(
        [
          ...loadFlow({ source: 'rest', url, recordsPath: '', tls: 'tls' }),
          { id: 'dl2', type: 'rps-delta-load', source: 'rest', url, recordsPath: '', schedule: 'input', runOnStart: false, store: 'st', wires: [['cap'], []] },
        ],
        {
          renderParams: true,
          coreNodes: ['network/05-tls.js'],
          configNodes: [{ id: 'tls', type: 'tls-config', name: 'test CA', ca: certs.ca.certPath, cert: '', key: '', verifyservercert: true }],
        },
      );
      const end = await run(rps);
      assert.equal(end.fill, 'green', end.text);
      assert.deepEqual(queued(rps).map((r) => r.id), ['1']);
      // Without the CA: the certificate is not trusted, and asking again will not change that.
      rps.node('dl2').receive({ action: 'run' });
      const retry = await waitForCall(rps.node('dl2'), 'status', (args) => textOf((args[0] as { text?: unknown }).text).includes('retrying'));
      assert.match(textOf((retry[0] as { text?: unknown }).text), /certificate|self.signed|UNABLE_TO|SELF_SIGNED/i);
      await rps.redeploy((flow) => {
        flow.splice(flow.findIndex((n) => n.id === 'dl2'), 1);
      });
    } finally {
      await closeServer(server as unknown as Server);
      certs.remove();
    }
  });
});

describe('rps-delta-load node, schedules, initial start time and stores', function () {
  useNodeRed();
  const schemas = new TestSchemas();
  afterEach(() => schemas.drop());

  it('starts an initial load after the start time, writes {updatedAfter} in epoch seconds, and puts the table on each record', async () => {
    const table = rows(5).map((r) => ({ ...r, updated_at: String((T0 + r.id * 1000) / 1000) }));
    const rps = await setup(
      loadFlow({ initial: 'after', startAfter: new Date(T0 + 3_000).toISOString(), timeFormat: 'epoch-seconds', table: 'incident' }, ['ack']).concat([
        { id: 'ack', type: 'helper' },
      ]),
      { renderParams: true },
    );
    const asks: PageAsk[] = [];
    rps.node('pages').on('input', (msg: Msg) => {
      const ask = msg.payload as PageAsk;
      asks.push(ask);
      const after = Number(ask.updatedAfter);
      rps.node('dl').receive({ ...msg, payload: table.filter((r) => Number(r.updated_at) >= after).slice(0, ask.limit) });
    });
    const acked = rps.collect('ack');
    rps.node('ack').on('input', (msg: Msg) => rps.node('dl').receive(msg));
    const end = await run(rps);
    assert.equal(end.fill, 'green', end.text);
    assert.deepEqual(asks[0], { updatedAfter: String((T0 + 3_000) / 1000), idAfter: '', limit: 100, updatedAfterMs: T0 + 3_000 });
    assert.deepEqual(acked.msgs.map((m) => [(m.payload as Row).id, m.table, m.operation]), [
      [3, 'incident', 'insert'],
      [4, 'incident', 'insert'],
      [5, 'incident', 'insert'],
    ]);
  });

  it('runs on deploy and again every interval, and on a cron schedule with seconds', async () => {
    const table = rows(3);
    const rps = await setup(
      [
        ...loadFlow({ schedule: 'interval', interval: 0.05, runOnStart: true }),
        { id: 'dl2', type: 'rps-delta-load', source: 'flow', schedule: 'cron', cron: '* * * * * *', runOnStart: false, store: 'st', wires: [['cap'], ['pages']] },
      ],
      { renderParams: true },
    );
    const asks: { node: string; run: number }[] = [];
    const runsOf = (node: string): number => new Set(asks.filter((a) => a.node === node).map((a) => a.run)).size;
    let reached: () => void = () => undefined;
    const enough = new Promise<void>((resolve) => (reached = resolve));
    rps.node('pages').on('input', (msg: Msg) => {
      const r = msg.rps as { node: string; run: number };
      asks.push({ node: r.node, run: r.run });
      rps.node(r.node).receive({ ...msg, payload: page(table, msg.payload as PageAsk) });
      if (runsOf('dl') >= 3 && runsOf('dl2') >= 2) reached();
    });
    await guard(enough, 'three interval runs and two cron runs');
    assert.equal(queued(rps).length, 6, 'each load queues the records once: later runs find them in the look-back window, done');
  });

  it('keeps the watermark in a PostgreSQL store', async function () {
    await assertPgReachable();
    const schema = schemas.next();
    const table = rows(30);
    const rps = await setup(loadFlow(), { renderParams: true, store: { storeType: 'postgres', pgUrl: TEST_PG_URL, pgSchema: schema } });
    answerPages(rps, () => table);
    const end = await run(rps);
    assert.equal(end.fill, 'green', end.text);
    const [w] = await pgQuery<{ updated_after: string; id_after: string }>(`SELECT updated_after::text, id_after FROM ${schema}.rps_watermark WHERE node_id = 'dl'`);
    assert.deepEqual(w, { updated_after: String(T0 + 29_000), id_after: '30' });
  });
});
