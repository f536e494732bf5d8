/**
 * Shared set-up of the node tests: node-red-node-test-helper with our node
 * types, a fresh SQLite store file per test, a Catch node, collectors that wait for
 * messages and spy calls (no sleeps), direct reads of the store file, and a way to
 * inject rps/1 envelopes through the runtime's receiver (the test helper cannot
 * reach RED.httpNode routes).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { type Fields, type Message, type Operation, PROTOCOL, type RecordRef, validateEnvelope } from '../../src/core/protocol';
import type { InboundPeer } from '../../src/engine/receiver';
import type { NodeAPI } from '../../src/nodes/red';
import { runtimeOf, type RpsRuntime } from '../../src/nodes/runtime';
import type { ReceiveOutcome } from '../../src/transport/inbound-http';
import { closeServer } from '../../tools/http';

export const PROJECT_ROOT = resolve(__dirname, '..', '..', '..');

export const NODE_TYPES = [
  'rps-store',
  'rps-process-event',
  'rps-remote-system',
  'rps-capture',
  'rps-correlate',
  'rps-map',
  'rps-send',
  'rps-inbound',
  'rps-complete',
  'rps-queue-retry',
  'rps-delta-load',
  'rps-stats',
] as const;

type NodeModule = (RED: NodeAPI) => void | Promise<void>;

/** Each node as Node-RED loads it: through the one-line entry point in nodes/. */
const modules: NodeModule[] = NODE_TYPES.map((type) => require(join(PROJECT_ROOT, 'nodes', `${type}.js`)) as NodeModule);

// ---- the parts of node-red-node-test-helper (untyped) that the tests use -------------

export interface SpyCall {
  args: unknown[];
  thisValue: unknown;
}

interface Spy {
  getCalls(): SpyCall[];
}

export interface Msg {
  _msgid?: string;
  payload?: unknown;
  rps?: unknown;
  error?: unknown;
  [key: string]: unknown;
}

export interface TestNode {
  id: string;
  type: string;
  on(event: 'input', listener: (msg: Msg) => void): void;
  on(event: string, listener: (call: SpyCall) => void): void;
  off(event: string, listener: (...args: never[]) => void): void;
  receive(msg: Msg): void;
  status: Spy;
  error: Spy;
  warn: Spy;
  log: Spy;
  send: Spy;
}

interface LogSpy {
  getCalls(): SpyCall[];
}

interface TestHelper {
  init(runtimePath: string, userSettings?: object): void;
  load(nodes: NodeModule[], flow: FlowNode[], credentials?: Record<string, object>): Promise<void>;
  setFlows(flow: FlowNode[], type: 'full' | 'flows' | 'nodes', credentials?: Record<string, object>): Promise<void>;
  unload(): Promise<void>;
  startServer(done: (err?: unknown) => void): void;
  stopServer(done: (err?: unknown) => void): void;
  getNode(id: string): unknown;
  log(): LogSpy;
  /** supertest against RED.httpAdmin (the admin API; RED.httpNode is not reachable). */
  request(): AdminAgent;
}

interface AdminAnswer {
  status: number;
  body: unknown;
}

interface AdminAgent {
  get(path: string): PromiseLike<AdminAnswer>;
  post(path: string): PromiseLike<AdminAnswer>;
}

export const helper = require('node-red-node-test-helper') as TestHelper;
helper.init(require.resolve('node-red'));

export type FlowNode = { id: string; type: string; [key: string]: unknown };

/** mocha hooks every node test file uses. */
export function useNodeRed(): void {
  beforeEach((done) => {
    helper.startServer(done);
  });
  afterEach(async () => {
    await helper.unload();
    await new Promise<void>((r) => helper.stopServer(() => r()));
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
}

const tempDirs: string[] = [];

export const TAB = 'tab';
export const EVENT = 'Incident exchange';
/** Where nothing listens: delivery fails with "connection refused", messages stay queued. */
export const UNREACHABLE_URL = 'http://127.0.0.1:9';
export const INBOUND_USER = 'iu';
export const INBOUND_PASSWORD = 'ip';

export interface SetupOptions {
  /** The remote system's URL; '' for none. Default: unreachable. */
  url?: string;
  /** Extra properties of the rps-remote-system node. */
  remote?: Record<string, unknown>;
  credentials?: Record<string, string>;
  /** Overrides the store file (default: store.sqlite in a fresh temp directory). */
  storePath?: (tempDir: string) => string;
  /** Extra properties of the rps-store node (e.g. retention days). */
  store?: Record<string, unknown>;
  /** Credentials of the rps-store node (pgPassword). */
  storeCredentials?: Record<string, string>;
  /** RED._ renders its parameters (see renderParams) from the start, for texts made while the nodes are created. */
  renderParams?: boolean;
  /** Node-RED core node files to load too (paths under @node-red/nodes/core, e.g. 'network/05-tls.js'). */
  coreNodes?: string[];
  /** More config nodes (no tab, no position), e.g. a tls-config. */
  configNodes?: FlowNode[];
}

export interface Rps {
  storePath: string;
  /** The RED object our nodes were given, and their per-runtime state. */
  red: NodeAPI;
  rt: RpsRuntime;
  node(id: string): TestNode;
  /** Everything the Catch node caught. */
  caught: Collector;
  collect(id: string): Collector;
  /** Reads the store file through a separate, read-only connection. */
  query<T>(sql: string, ...params: unknown[]): T[];
  /** The remote system 'rs' as the remote would call us (its inbound API user). */
  peer(): InboundPeer;
  /** Delivers messages to us as remote system 'rs' would, through the receiver. */
  receive(...messages: Message[]): Promise<ReceiveOutcome>;
  /** Deploys the flow again after `change` edited it ('nodes': only changed nodes restart). */
  redeploy(change: (flow: FlowNode[]) => void, type?: 'full' | 'flows' | 'nodes'): Promise<void>;
}

/**
 * Loads `nodes` (on tab TAB) with the config nodes every test needs: store 'st' on a
 * fresh temp file, process event 'pe' and remote system 'rs', and a Catch node
 * 'catcher' wired to helper 'caught'.
 */
export async function setup(nodes: FlowNode[], options: SetupOptions = {}): Promise<Rps> {
  const dir = mkdtempSync(join(tmpdir(), 'rps-node-test-'));
  tempDirs.push(dir);
  const storePath = options.storePath ? options.storePath(dir) : join(dir, 'store.sqlite');
  const flow: FlowNode[] = [
    { id: TAB, type: 'tab', label: 'test' },
    { id: 'st', type: 'rps-store', path: storePath, instanceName: 'test-instance', ...options.store },
    { id: 'pe', type: 'rps-process-event', name: EVENT },
    { id: 'rs', type: 'rps-remote-system', name: 'desk B', url: options.url ?? UNREACHABLE_URL, store: 'st', ...options.remote },
    // Flow nodes need x/y: without them Node-RED treats a node as a config node of its tab.
    { id: 'catcher', type: 'catch', z: TAB, x: 0, y: 0, scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: TAB, x: 0, y: 0, wires: [] },
    ...(options.configNodes ?? []),
    ...nodes.map((n) => ({ z: TAB, x: 0, y: 0, wires: [], ...n })),
  ];
  let red: NodeAPI | undefined;
  // Loaded after our modules, so it runs before any of our nodes is created.
  const probe: NodeModule = (RED) => {
    red = RED;
    if (options.renderParams) renderParams(RED);
  };
  const credentials = options.credentials ?? { user: 'u', password: 'p', inboundUser: INBOUND_USER, inboundPassword: INBOUND_PASSWORD };
  const allCredentials = { rs: credentials, ...(options.storeCredentials ? { st: options.storeCredentials } : {}) };
  const core = (options.coreNodes ?? []).map((file) => require(join(PROJECT_ROOT, 'node_modules', '@node-red', 'nodes', 'core', file)) as NodeModule);
  await helper.load([...modules, ...core, probe], structuredClone(flow), allCredentials);
  assert.ok(red, 'the test helper gave our modules a RED object');
  const rt = runtimeOf(red);
  const node = (id: string): TestNode => {
    const n = helper.getNode(id);
    assert.ok(n, `node ${id} is deployed`);
    return n as TestNode;
  };
  const rps: Rps = {
    storePath,
    red,
    rt,
    node,
    caught: new Collector(node('caught')),
    collect: (id) => new Collector(node(id)),
    query<T>(sql: string, ...params: unknown[]): T[] {
      const db = new Database(storePath, { readonly: true, fileMustExist: true });
      try {
        return db.prepare(sql).all(...params) as T[];
      } finally {
        db.close();
      }
    },
    peer(): InboundPeer {
      const peer = rt.receiver.clientAuthenticate({ user: INBOUND_USER, password: INBOUND_PASSWORD });
      assert.ok(peer, 'the remote system accepts its inbound API user');
      return peer;
    },
    async receive(...messages: Message[]): Promise<ReceiveOutcome> {
      const raw = { protocol: PROTOCOL, sender: { instanceId: REMOTE_INSTANCE, name: 'desk B' }, messages };
      const checked = validateEnvelope(JSON.parse(JSON.stringify(raw)));
      assert.ok(checked.ok, `test envelope is valid rps/1: ${checked.ok ? '' : checked.error}`);
      const outcome = await rt.receiver.receive(rps.peer(), checked.value);
      assert.equal(outcome.status, 200, `receiver accepted: ${JSON.stringify(outcome)}`);
      return outcome;
    },
    async redeploy(edit: (flow: FlowNode[]) => void, type: 'full' | 'flows' | 'nodes' = 'nodes'): Promise<void> {
      edit(flow);
      await helper.setFlows(structuredClone(flow), type, allCredentials);
    },
  };
  return rps;
}

export function basic(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

export const REMOTE_INSTANCE = 'instance-of-desk-b';

/** A `change` message as remote system 'rs' sends it about its record `table`/`recordId`. */
export function change(o: {
  recordId: string;
  sequence: number;
  table?: string;
  operation?: Operation;
  fields?: Fields;
  changedFields?: string[];
  target?: RecordRef;
}): Message {
  const fields = o.fields ?? { number: o.recordId, short_description: `change ${o.sequence}` };
  const m: Message = {
    id: randomUUID(),
    kind: 'change',
    processEvent: EVENT,
    source: { instanceId: REMOTE_INSTANCE, table: o.table ?? 'case', id: o.recordId },
    sequence: o.sequence,
    operation: o.operation ?? (o.sequence === 1 ? 'insert' : 'update'),
    capturedAt: new Date().toISOString(),
    interactive: true,
    fields,
    changedFields: o.changedFields ?? Object.keys(fields),
    journal: [],
    attachments: [],
  };
  if (o.target) m.target = o.target;
  return m;
}

/** A `correlation` message: the remote tells us its record `remote` is the twin of our `local`. */
export function correlationMessage(remote: RecordRef, local: RecordRef, sequence = 1): Message {
  return {
    id: randomUUID(),
    kind: 'correlation',
    processEvent: EVENT,
    source: { instanceId: REMOTE_INSTANCE, table: remote.table, id: remote.id },
    target: local,
    sequence,
    operation: 'insert',
    capturedAt: new Date().toISOString(),
    interactive: false,
    fields: {},
    changedFields: [],
    journal: [],
    attachments: [],
  };
}

const WAIT_MS = 5000;

/** Records every message a (helper) node receives and lets a test wait for the n-th one. */
export class Collector {
  readonly msgs: Msg[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(readonly node: TestNode) {
    node.on('input', (msg: Msg) => {
      this.msgs.push(msg);
      this.waiters = this.waiters.filter((w) => {
        if (this.msgs.length < w.n) return true;
        w.resolve();
        return false;
      });
    });
  }

  /** Resolves with all messages once at least `n` have arrived; rejects (a failure guard, not a sleep) after WAIT_MS. */
  async wait(n = 1): Promise<Msg[]> {
    if (this.msgs.length < n) {
      await guard(
        new Promise<void>((resolve) => this.waiters.push({ n, resolve })),
        `${this.node.id}: expected ${n} message(s), got ${this.msgs.length}`,
      );
    }
    return this.msgs;
  }
}

/** Rejects with `what` when `p` has not settled within WAIT_MS, so a missing event fails fast with a reason. */
export async function guard<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting: ${what}`)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

type SpyMethod = 'status' | 'error' | 'warn' | 'log' | 'send';

/** The arguments of every call of `method` made by `node` (the spies sit on Node.prototype, shared by all nodes). */
export function callsOf(node: TestNode, method: SpyMethod): unknown[][] {
  return node[method]
    .getCalls()
    .filter((c) => c.thisValue === node)
    .map((c) => c.args);
}

/** Waits until `node` has called `method` with arguments matching `match` (earlier calls count too). */
export async function waitForCall(node: TestNode, method: SpyMethod, match: (args: unknown[]) => boolean): Promise<unknown[]> {
  return (await waitForCount(node, method, match, 1))[0];
}

/** Waits until `node` has made `n` calls of `method` matching `match` (earlier calls count too); resolves with them. */
export async function waitForCount(node: TestNode, method: SpyMethod, match: (args: unknown[]) => boolean, n: number): Promise<unknown[][]> {
  const matching = (): unknown[][] => callsOf(node, method).filter(match);
  if (matching().length >= n) return matching();
  await guard(
    new Promise<void>((resolve) => {
      const listener = (): void => {
        if (matching().length < n) return;
        node.off(`call:${method}`, listener);
        resolve();
      };
      node.on(`call:${method}`, listener);
    }),
    `${node.id}: ${n} call(s) of ${method}(${match.toString()}), got ${matching().length}`,
  );
  return matching();
}

/**
 * Waits for the next call of `method` by `node` matching `match`; calls made before
 * this is called do not count. Call it before whatever should cause the call.
 */
export async function nextCall(node: TestNode, method: SpyMethod, match: (args: unknown[]) => boolean): Promise<unknown[]> {
  const seen = callsOf(node, method).filter(match).length;
  const calls = await waitForCount(node, method, match, seen + 1);
  return calls[seen];
}

/**
 * Resolves once the clock has passed `at` (ms since the epoch), yielding to the event
 * loop in between: for conditions that are about age (retention, settle time), where
 * no event says the time has come.
 */
export async function untilPast(at: number): Promise<void> {
  while (Date.now() <= at) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * The test helper's RED._ returns the key and drops the parameters; this renders them
 * after the key (as "key {json}"), so tests can read counts and reasons in status texts.
 */
export function renderParams(red: NodeAPI): void {
  red._ = (key: string, params?: Record<string, unknown>) => (params ? `${key} ${JSON.stringify(params)}` : key);
}

export interface StatusArg {
  fill?: string;
  shape?: string;
  text?: string;
}

export function isStatus(args: unknown[], fill: string, text: string): boolean {
  const s = args[0] as StatusArg | undefined;
  return typeof s === 'object' && s !== null && s.fill === fill && typeof s.text === 'string' && s.text.includes(text);
}

/** Text of an Error or of the first argument of a spy call. */
export function textOf(v: unknown): string {
  if (v instanceof Error) return v.message;
  if (typeof v === 'string') return v;
  return JSON.stringify(v) ?? String(v);
}

/** `msg.error.message` as the Catch node gives it, without the "Error: " that Node-RED puts before it. */
export function caughtError(msg: Msg): string {
  const e = msg.error as { message?: unknown } | undefined;
  assert.ok(e && typeof e.message === 'string', `msg.error has a message: ${JSON.stringify(msg.error)}`);
  return e.message.replace(/^Error: /, '');
}

/** The id of the node whose error the Catch node caught. */
export function caughtFrom(msg: Msg): string | undefined {
  const source = (msg.error as { source?: { id?: unknown } } | undefined)?.source;
  return typeof source?.id === 'string' ? source.id : undefined;
}

/** `msg.rps` as a plain record, asserting it is there. */
export function rpsOf(msg: Msg): Record<string, unknown> {
  assert.ok(typeof msg.rps === 'object' && msg.rps !== null, 'msg.rps is set');
  return msg.rps as Record<string, unknown>;
}

export interface OutboundRecord {
  id: number;
  message_id: string;
  remote_system: string;
  process_event: string;
  kind: string;
  operation: string;
  record_table: string;
  record_id: string;
  sequence: number;
  status: string;
  payload: string;
  last_error: string | null;
  /** Why the row is in error: connection, auth, refused. */
  error_kind: string | null;
  /** Delivery attempts in all. */
  attempts: number;
  /** Failed attempts since the row was last (re)queued. */
  tries: number;
  /** Times the row went back from error to ready by rps-queue-retry or a person. */
  retries: number;
  created_at: number;
  processed_at: number | null;
}

export interface InboundRecord {
  id: number;
  message_id: string;
  source_table: string;
  source_id: string;
  sequence: number;
  status: string;
  last_error: string | null;
  error_kind: string | null;
  attempts: number;
  retries: number;
}

/** A message held by an rps-queue-retry node (its durable error queue). */
export interface ErrorQueueRecord {
  id: number;
  owner: string;
  message: string;
  error: string;
  retries: number;
  status: string;
  created_at: number;
  updated_at: number;
}

export type { CorrelationRecord } from '../../src/store/correlations/types';

/** An outbound context as rps-capture makes it, for tests that start after capture. */
export function outboundRps(table: string, id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    direction: 'outbound',
    table,
    id,
    operation: 'insert',
    capturedAt: new Date().toISOString(),
    interactive: true,
    changedFields: ['number', 'short_description'],
    ...extra,
  };
}

export interface RemoteRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

export interface FakeAnswer {
  status: number;
  /** Without a body, a 200 to `POST /rps/v1/messages` accepts every message of the envelope, and one to `GET /rps/v1/handshake` is a handshake. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** The answer to every request, or one chosen per request (the request's `body` is its text). */
export type FakeAnswering = FakeAnswer | ((request: RemoteRequest) => FakeAnswer);

/** What `GET /rps/v1/handshake` of another Node-RED answers. */
export function handshakeAnswer(): FakeAnswer {
  return { status: 200, body: { protocol: PROTOCOL, instanceId: REMOTE_INSTANCE, name: 'desk B', processEvents: [EVENT] } };
}

/** The ids of the messages in an envelope a FakeRemote received (none for a request that is not a post of messages). */
export function envelopeIds(request: RemoteRequest): string[] {
  if (request.method !== 'POST' || request.url !== '/rps/v1/messages') return [];
  return (JSON.parse(request.body) as { messages: { id: string }[] }).messages.map((m) => m.id);
}

/**
 * A stand-in for the other instance's `/rps/v1` routes: accepts every message
 * (status 200), or answers every request with `status` and `body`, or answers each
 * request as a function of the request decides.
 */
export class FakeRemote {
  readonly requests: RemoteRequest[] = [];
  private server: Server | undefined;
  private waiters: { n: number; resolve: () => void }[] = [];
  private matchers: { match: (request: RemoteRequest) => boolean; resolve: (request: RemoteRequest) => void }[] = [];

  constructor(private answer: FakeAnswering = { status: 200 }) {}

  /** Changes how the remote answers from the next request on. */
  answerWith(answer: FakeAnswering): void {
    this.answer = answer;
  }

  get url(): string {
    assert.ok(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async listen(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const request: RemoteRequest = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body };
        const chosen = typeof this.answer === 'function' ? this.answer(request) : this.answer;
        const status = chosen.status;
        let answer = chosen.body;
        if (status === 200 && answer === undefined && request.method === 'POST') {
          const envelope = JSON.parse(body) as { messages: { id: string }[] };
          answer = { results: envelope.messages.map((m) => ({ id: m.id, status: 'accepted' })) };
        }
        if (status === 200 && answer === undefined && request.method === 'GET') answer = handshakeAnswer().body;
        const text = JSON.stringify(answer ?? {});
        if (status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="rps"');
        res.writeHead(status, { 'Content-Type': 'application/json', ...chosen.headers });
        res.end(text);
        this.requests.push(request);
        this.waiters = this.waiters.filter((w) => {
          if (this.requests.length < w.n) return true;
          w.resolve();
          return false;
        });
        this.matchers = this.matchers.filter((m) => {
          if (!m.match(request)) return true;
          m.resolve(request);
          return false;
        });
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  async wait(n = 1): Promise<RemoteRequest[]> {
    if (this.requests.length < n) {
      await guard(new Promise<void>((resolve) => this.waiters.push({ n, resolve })), `remote: expected ${n} request(s), got ${this.requests.length}`);
    }
    return this.requests;
  }

  /** Resolves with the first request (earlier ones count too) that matches. */
  async waitFor(match: (request: RemoteRequest) => boolean, what: string): Promise<RemoteRequest> {
    const found = this.requests.find(match);
    if (found) return found;
    return guard(
      new Promise<RemoteRequest>((resolve) => this.matchers.push({ match, resolve })),
      `remote: a request ${what}; got ${this.requests.map((r) => `${r.method} ${r.url}`).join(', ') || 'none'}`,
    );
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeServer(server);
  }
}
