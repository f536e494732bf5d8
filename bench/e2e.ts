/**
 * End-to-end throughput and latency, capture → complete, between two real Node-RED
 * processes on the SQLite store, beside a baseline measured in the same run: a
 * hand-wired flow that relays each record with an `http request` node to an
 * `http in` node on the other instance (no queue, no durability).
 *
 * Each side gets the same generator (a function node on A that emits record changes
 * with 10 fields, as fast as it can or at a fixed rate) and the same meter (a
 * function node on B that records capture-to-arrival latency). Prints one JSON line
 * per system and phase. Run with `npm run bench`; set RPS_BENCH_CHANGES /
 * RPS_BENCH_RECORDS to change the size (defaults 50,000 changes over 5,000 records).
 *
 * Both sides run with the settings a user gets (no tuning: the receiver's default request
 * rate, the inbound node's default parallelism), so the figures are what a user sees.
 *
 * The throughput phase also reports CPU milliseconds per change (bench/cpu.ts): of the
 * whole machine, of each Node-RED process, and the rest (PostgreSQL's processes). All
 * of them share this machine's cores, so a system's throughput here is bounded by
 * cores / (CPU per change): `perSecAtFullCpu`.
 */
import { A_TO_B, B_TO_A } from '../tools/flows';
import { pgQuery, TEST_PG_URL } from '../tools/pg';
import { type FlowNode, NodeRedInstance } from '../tools/nodered';
import { cpuMeter } from './cpu';

const FIELDS = Array.from({ length: 10 }, (_, i) => `f${i}`);

/** A function node body: on a {total, records, rate} message, emits record changes (rate 0: as fast as possible). */
const GENERATE = `
const { total, records, rate, prefix } = msg.payload;
let i = 0;
const emit = (n) => {
  for (let k = 0; k < n && i < total; k++, i++) {
    const id = (prefix || 'r') + (i % records);
    const record = { id };
    for (let f = 0; f < 10; f++) record['f' + f] = id + '-' + f + '-' + i;
    node.send({ payload: record, operation: i < records ? 'insert' : 'update', sentAt: Date.now() });
  }
};
if (rate > 0) {
  const started = Date.now();
  const timer = setInterval(() => {
    const due = Math.min(total, Math.floor(((Date.now() - started) * rate) / 1000));
    emit(due - i);
    if (i >= total) clearInterval(timer);
  }, 5);
} else {
  const step = () => { emit(500); if (i < total) setTimeout(step, 0); };
  step();
}
return null;`;

/** A function node body on B: counts arrivals and keeps their latency (ms since the change was made on A). */
const MEASURE = `
const sentAt = msg.rps ? Date.parse(msg.rps.capturedAt) : msg.payload.sentAt;
let lat = flow.get('lat');
if (!lat) { lat = []; flow.set('lat', lat); }
lat.push(Date.now() - sentAt);
if (msg.rps) msg.payload.id = msg.rps.source.id;
return msg;`;

const STATS = `
msg.payload = { lat: flow.get('lat') || [] };
if (msg.req.query.reset) flow.set('lat', []);
return msg;`;

function controlFlow(z: string, generatorOut: string): FlowNode[] {
  return [
    { id: `${z}-load`, type: 'http in', z, url: '/load', method: 'post', x: 100, y: 50, wires: [[`${z}-gen`, `${z}-ok`]] },
    { id: `${z}-ok`, type: 'http response', z, statusCode: '200', x: 300, y: 20, wires: [] },
    { id: `${z}-gen`, type: 'function', z, name: 'generate', func: GENERATE, outputs: 1, x: 300, y: 50, wires: [[generatorOut]] },
  ];
}

function statsFlow(z: string): FlowNode[] {
  return [
    { id: `${z}-stats`, type: 'http in', z, url: '/stats', method: 'get', x: 100, y: 300, wires: [[`${z}-statsfn`]] },
    { id: `${z}-statsfn`, type: 'function', z, func: STATS, outputs: 1, x: 300, y: 300, wires: [[`${z}-statsok`]] },
    { id: `${z}-statsok`, type: 'http response', z, statusCode: '200', x: 500, y: 300, wires: [] },
  ];
}

function remoteSystem(url: string, name: string, out: typeof A_TO_B, inb: typeof A_TO_B, store?: string): FlowNode {
  return {
    id: 'rs',
    type: 'rps-remote-system',
    name,
    url,
    authType: 'basic',
    ...(store ? { store } : {}),
    credentials: { user: out.user, password: out.password, inboundUser: inb.user, inboundPassword: inb.password },
  };
}

/** An rps-store node on PostgreSQL in `schema`, or none (the default SQLite file). */
function storeNodes(schema: string | undefined): FlowNode[] {
  return schema ? [{ id: 'st', type: 'rps-store', storeType: 'postgres', pgUrl: TEST_PG_URL, pgSchema: schema }] : [];
}

const mappings = FIELDS.map((f) => ({ target: f, type: 'field', value: f }));

/** Our sender; `fieldTimes`: its capture stamps each change's fields, as a two-way sync's does. */
export function ourSender(bUrl: string, schema?: string, fieldTimes = false): FlowNode[] {
  const z = 'tab-a';
  return [
    { id: z, type: 'tab', label: 'A' },
    { id: 'pe', type: 'rps-process-event', name: 'Bench' },
    ...storeNodes(schema),
    remoteSystem(bUrl, 'B', A_TO_B, B_TO_A, schema && 'st'),
    ...controlFlow(z, 'cap'),
    { id: 'cap', type: 'rps-capture', z, table: 'item', idField: 'id', insert: true, update: true, delete: true, fields: '', fieldTimes, x: 500, y: 50, wires: [['cor']] },
    { id: 'cor', type: 'rps-correlate', z, remoteSystem: 'rs', x: 650, y: 50, wires: [['map'], ['map']] },
    { id: 'map', type: 'rps-map', z, mappings, keepUnmapped: false, x: 800, y: 50, wires: [['snd']] },
    { id: 'snd', type: 'rps-send', z, remoteSystem: 'rs', processEvent: 'pe', x: 950, y: 50, wires: [[]] },
  ];
}

export function ourReceiver(aUrl: string, schema?: string): FlowNode[] {
  const z = 'tab-b';
  return [
    { id: z, type: 'tab', label: 'B' },
    { id: 'pe', type: 'rps-process-event', name: 'Bench' },
    ...storeNodes(schema),
    remoteSystem(aUrl, 'A', B_TO_A, A_TO_B, schema && 'st'),
    { id: 'inb', type: 'rps-inbound', z, remoteSystem: 'rs', processEvent: 'pe', x: 100, y: 100, wires: [['cor']] },
    { id: 'cor', type: 'rps-correlate', z, x: 250, y: 100, wires: [['map'], ['map']] },
    { id: 'map', type: 'rps-map', z, mappings, keepUnmapped: false, x: 400, y: 100, wires: [['measure']] },
    { id: 'measure', type: 'function', z, func: MEASURE, outputs: 1, x: 550, y: 100, wires: [['done']] },
    { id: 'done', type: 'rps-complete', z, localTable: 'record', localId: 'payload.id', localIdType: 'msg', x: 700, y: 100, wires: [[]] },
    ...statsFlow(z),
  ];
}

function baselineSender(bUrl: string): FlowNode[] {
  const z = 'tab-a';
  const prepare = `msg.payload = Object.assign({ sentAt: msg.sentAt, operation: msg.operation }, msg.payload); return msg;`;
  return [
    { id: z, type: 'tab', label: 'A (baseline)' },
    ...controlFlow(z, 'prep'),
    { id: 'prep', type: 'function', z, func: prepare, outputs: 1, x: 500, y: 50, wires: [['req']] },
    { id: 'req', type: 'http request', z, method: 'POST', ret: 'txt', url: `${bUrl}/relay`, x: 650, y: 50, wires: [[]] },
  ];
}

function baselineReceiver(): FlowNode[] {
  const z = 'tab-b';
  return [
    { id: z, type: 'tab', label: 'B (baseline)' },
    { id: 'in', type: 'http in', z, url: '/relay', method: 'post', x: 100, y: 100, wires: [['measure']] },
    { id: 'measure', type: 'function', z, func: MEASURE, outputs: 1, x: 250, y: 100, wires: [['ok']] },
    { id: 'ok', type: 'http response', z, statusCode: '200', x: 400, y: 100, wires: [] },
    ...statsFlow(z),
  ];
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] : NaN;
}

export async function latencies(b: NodeRedInstance, reset = false): Promise<number[]> {
  const res = await fetch(`${b.url}/stats${reset ? '?reset=1' : ''}`);
  return ((await res.json()) as { lat: number[] }).lat;
}

/**
 * Sends `total` changes through the senders (split evenly, each with records of its
 * own) and waits until B has seen them all; returns seconds and latencies.
 */
async function run(senders: NodeRedInstance[], b: NodeRedInstance, total: number, records: number, rate: number): Promise<{ seconds: number; lat: number[]; cpu: Record<string, unknown> }> {
  await latencies(b, true);
  const cpu = cpuMeter({ receiver: b.pid, ...Object.fromEntries(senders.map((a, n) => [`sender${senders.length > 1 ? n + 1 : ''}`, a.pid])) });
  const started = Date.now();
  const share = total / senders.length;
  await Promise.all(
    senders.map((a, n) =>
      fetch(`${a.url}/load`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ total: share, records: records / senders.length, rate: rate / senders.length, prefix: `w${n}-` }),
      }),
    ),
  );
  const deadline = started + 30 * 60_000;
  for (;;) {
    const lat = await latencies(b);
    if (process.env.RPS_BENCH_VERBOSE) console.error(`${lat.length} of ${total}`);
    if (lat.length >= total) {
      const seconds = (Date.now() - started) / 1000;
      return { seconds, lat, cpu: cpuFigures(cpu.end(total, seconds)) };
    }
    if (Date.now() > deadline) throw new Error(`only ${lat.length} of ${total} arrived`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * CPU per change of the throughput phase: the machine, each Node-RED process, and the
 * rest (PostgreSQL's server processes, when the store is there; this driver's polling).
 */
function cpuFigures(m: ReturnType<ReturnType<typeof cpuMeter>['end']>): Record<string, unknown> {
  if (!m) return {};
  const { machine, ...processes } = m.cpuMsPerChange;
  const rest = machine - Object.values(processes).reduce((a, b) => a + b, 0);
  return {
    cpuMsPerChange: { machine, ...processes, rest: Math.round(rest * 1000) / 1000 },
    coresBusy: m.coresBusy,
    cores: m.cores,
    // The rate at which this machine's cores, all busy with nothing else, would pay for the changes.
    perSecAtFullCpu: Math.round((m.cores * 1000) / machine),
  };
}

export interface SystemUnderTest {
  system: string;
  /** Sender processes (sharing one PostgreSQL store when more than one). */
  senders: number;
  flowsA(bUrl: string): FlowNode[];
  flowsB(aUrl: string): FlowNode[];
  /** Called before the processes start and after they stop (PostgreSQL schemas). */
  setUp?(): Promise<void>;
  tearDown?(): Promise<void>;
}

/**
 * With RPS_BENCH_PROFILE=<dir>, every process writes a CPU profile there (node
 * --cpu-prof), and is stopped with SIGTERM so that it can.
 */
function profiling(): { nodeArgs: string[]; end(i: NodeRedInstance): Promise<void> } {
  const dir = process.env.RPS_BENCH_PROFILE;
  // RPS_BENCH_NODE_ARGS: more node options for every process (e.g. -r a tracing preload).
  const extra = (process.env.RPS_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  if (!dir) return { nodeArgs: extra, end: (i) => i.kill() };
  return { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...extra], end: (i) => i.stop() };
}

export async function measure(sut: SystemUnderTest, total: number, records: number): Promise<Record<string, number | string>> {
  await sut.setUp?.();
  const prof = profiling();
  const b = await NodeRedInstance.start({ name: `${sut.system}-B`, nodeArgs: prof.nodeArgs });
  const senders: NodeRedInstance[] = [];
  try {
    for (let n = 0; n < sut.senders; n++) senders.push(await NodeRedInstance.start({ name: `${sut.system}-A${n + 1}`, nodeArgs: prof.nodeArgs }));
    await b.deploy(sut.flowsB(senders[0].url));
    for (const a of senders) await a.deploy(sut.flowsA(b.url));
    const throughput = await run(senders, b, total, records, 0);
    const fixedRate = 1000;
    const paced = await run(senders, b, Math.min(total, 20_000), records, fixedRate);
    const sorted = [...paced.lat].sort((x, y) => x - y);
    return {
      system: sut.system,
      senders: sut.senders,
      changes: total,
      records,
      seconds: Math.round(throughput.seconds * 10) / 10,
      perSec: Math.round(total / throughput.seconds),
      latencyAtRate: fixedRate,
      p50ms: percentile(sorted, 50),
      p99ms: percentile(sorted, 99),
      ...throughput.cpu,
    };
  } finally {
    await Promise.all([b, ...senders].map((i) => prof.end(i)));
    await sut.tearDown?.();
  }
}

async function dropSchemas(...schemas: string[]): Promise<void> {
  for (const schema of schemas) await pgQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
}

/** Both sides on PostgreSQL (a schema each); `senders` processes share A's. */
function onPostgres(senders: number): SystemUnderTest {
  const a = `bench_a_${process.pid}`;
  const b = `bench_b_${process.pid}`;
  return {
    system: 'rps postgres',
    senders,
    flowsA: (bUrl) => ourSender(bUrl, a),
    flowsB: (aUrl) => ourReceiver(aUrl, b),
    setUp: () => dropSchemas(a, b),
    tearDown: () => dropSchemas(a, b),
  };
}

export const SYSTEMS: Record<string, SystemUnderTest> = {
  baseline: { system: 'baseline http request', senders: 1, flowsA: baselineSender, flowsB: () => baselineReceiver() },
  sqlite: { system: 'rps sqlite', senders: 1, flowsA: (u) => ourSender(u), flowsB: (u) => ourReceiver(u) },
  'sqlite-field-times': { system: 'rps sqlite, field times', senders: 1, flowsA: (u) => ourSender(u, undefined, true), flowsB: (u) => ourReceiver(u) },
  postgres: onPostgres(1),
  'postgres-2': onPostgres(2),
};

/** RPS_BENCH_E2E=baseline,sqlite,... picks systems (default: all); the baseline is measured first. */
export async function benchEndToEnd(): Promise<Record<string, unknown>[]> {
  const total = Number(process.env.RPS_BENCH_CHANGES ?? 50_000);
  const records = Number(process.env.RPS_BENCH_RECORDS ?? 5_000);
  const names = (process.env.RPS_BENCH_E2E ?? Object.keys(SYSTEMS).join(',')).split(',').map((n) => n.trim());
  const lines: Record<string, unknown>[] = [];
  let baseline: number | undefined;
  for (const name of names) {
    const sut = SYSTEMS[name];
    if (!sut) throw new Error(`RPS_BENCH_E2E: unknown system ${name} (known: ${Object.keys(SYSTEMS).join(', ')})`);
    const line = await measure(sut, total, records);
    if (name === 'baseline') baseline = line.perSec as number;
    lines.push({ bench: 'e2e', ...line, ...(baseline && name !== 'baseline' ? { vsBaseline: Math.round(((line.perSec as number) / baseline) * 100) / 100 } : {}) });
    if (process.env.RPS_BENCH_VERBOSE) console.error(JSON.stringify(lines[lines.length - 1]));
  }
  return lines;
}

if (require.main === module) {
  benchEndToEnd().then(
    (lines) => lines.forEach((l) => console.log(JSON.stringify(l))),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
