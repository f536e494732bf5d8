/**
 * A REST source for delta-load tests and benchmarks: a small HTTP API in the test process
 * (node:http on 127.0.0.1, a free port) that holds "incidents" in memory and answers
 *
 *     GET /incidents?updated_after=<ISO time>&id_after=<id>&limit=<n>  →  { "result": [...] }
 *
 * with keyset paging as rps-delta-load expects of a source: the records with
 * updated > updated_after, or updated = updated_after and id > id_after (id_after '':
 * updated >= updated_after; updated_after '': all), ordered by (updated, id), at most
 * `limit`. A record is { id (integer), updated_at (ISO 8601 with ms), title, n (its version,
 * counting up with each change) }.
 *
 * What a test does to it: create records (a block of them sharing one timestamp), update
 * one (updated_at = now, n + 1), commit one late (visible only now, with an updated_at in
 * the past), make the next requests fail (503, or the socket closed), and ask for Bearer
 * tokens: JWT access tokens of a real authorization server, checked against its JWKS with
 * the product's own verification (src/transport), 401 when absent, invalid or expired.
 * It counts requests and pages, and reports every page it served (event `page`).
 *
 * Records are kept in columns (typed arrays), so 200,000 of them take a few MB.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { compareIds, type Watermark } from '../src/core/delta';
import { JwksCache } from '../src/transport/jwks';
import { checkClaims, decodeJwt, parseAlgorithms, verifyWithJwk } from '../src/transport/jwt';
import { outboundChain, PROCESS_EVENT } from './flows';
import type { FlowNode } from './nodered';
import { closeServer, listenOnLoopback } from './http';

/** A record as the source answers it. */
export interface Incident {
  id: number;
  updated_at: string;
  title: string;
  n: number;
}

/** A version of a record: its position and its version counter. */
export interface Version {
  id: number;
  /** updated_at, epoch ms. */
  updated: number;
  n: number;
}

/** A page the source answered (event `page`, after the answer was written). */
export interface ServedPage {
  /** Requests so far, this one included (failed and refused ones too). */
  request: number;
  /** Pages served so far, this one included. */
  page: number;
  query: { updatedAfter: string; idAfter: string; limit: number };
  records: Version[];
  /** Shorter than the limit: the run that asked for it ends with it. */
  last: boolean;
}

/** Bearer tokens the source accepts: JWT access tokens of one issuer for one audience. */
export interface SourceAuth {
  issuer: string;
  audience: string;
  jwksUrl: string;
  /**
   * Tokens issued longer ago than this are refused as expired (as by a source whose clock
   * runs ahead): the client must renew on 401. Default: only their own expiry counts.
   */
  maxAgeSec?: number;
}

export type FaultMode = 'status-503' | 'close';

export interface CreateOptions {
  /** Records of the block that share one timestamp (none without). */
  shared?: number;
  /** Index (among the created) of the block's first record; default: in the middle. */
  sharedFrom?: number;
  /** Time between the other records' timestamps, ms (default 100). */
  spacingMs?: number;
  /** The newest created record's time, epoch ms (default: one second ago). */
  endMs?: number;
}

const PATH = '/incidents';
const INTEGER = /^-?\d+$/;

export const title = (id: number, n: number): string => `Incident ${id} v${n}`;

export class RecordsSource extends EventEmitter<{ page: [ServedPage] }> {
  url = '';
  /** Requests received (every one: answered, refused or failed on purpose). */
  requests = 0;
  /** Pages answered with records (200). */
  pages = 0;
  /** Requests answered 401 (no token, or a token not valid now). */
  unauthorized = 0;
  /** Requests failed on purpose (failNext). */
  injected = 0;
  /** Requests answered 400 (a query the source cannot read): a node fault. */
  readonly badRequests: string[] = [];
  /** Distinct access tokens accepted (by jti), when tokens are asked for. */
  readonly tokensAccepted = new Set<string>();

  private server: Server | undefined;
  private readonly jwks: JwksCache | undefined;
  // Columns by slot (id = slot + 1).
  private updatedCol = new Float64Array(1024);
  private versionCol = new Uint32Array(1024);
  private count = 0;
  /** Slots in (updated, id) order. */
  private order = new Int32Array(1024);
  private faults: { left: number; mode: FaultMode } = { left: 0, mode: 'status-503' };

  constructor(private readonly auth?: SourceAuth) {
    super();
    this.jwks = auth ? new JwksCache({ url: auth.jwksUrl, minRefetchMs: 1_000 }) : undefined;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    this.url = await listenOnLoopback(this.server);
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
    this.server = undefined;
  }

  /** The query URL for rps-delta-load, from the source's root ('' for a URL relative to a remote system's). */
  static query(root: string): string {
    return `${root}${PATH}?updated_after={updatedAfter}&id_after={idAfter}&limit={limit}`;
  }

  /** Records held. */
  get size(): number {
    return this.count;
  }

  /** A record's current version. */
  version(id: number): Version {
    const slot = this.slotOf(id);
    return { id, updated: this.updatedCol[slot], n: this.versionCol[slot] };
  }

  /** Every record's current version, in (updated, id) order. */
  *versions(): Generator<Version> {
    for (let i = 0; i < this.count; i++) {
      const slot = this.order[i];
      yield { id: slot + 1, updated: this.updatedCol[slot], n: this.versionCol[slot] };
    }
  }

  /**
   * Creates `n` records (version 1) with times in the past, 'spacingMs' apart, in id
   * order, except a block of `shared` records that all have the same time. Returns their ids.
   */
  create(n: number, o: CreateOptions = {}): number[] {
    const spacing = o.spacingMs ?? 100;
    const shared = Math.min(o.shared ?? 0, n);
    const from = o.sharedFrom ?? Math.floor((n - shared) / 2);
    const distinct = n - shared + (shared > 0 ? 1 : 0);
    const end = o.endMs ?? Date.now() - 1_000;
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      const step = i < from ? i : i < from + shared ? from : i - shared + (shared > 0 ? 1 : 0);
      ids.push(this.add(end - (distinct - 1 - step) * spacing));
    }
    return ids;
  }

  /** A change to a record: updated_at = now (never before its old time), n + 1. Returns the new version. */
  update(id: number): Version {
    const slot = this.slotOf(id);
    this.remove(slot);
    this.updatedCol[slot] = Math.max(Date.now(), this.updatedCol[slot]);
    this.versionCol[slot] += 1;
    this.insert(slot);
    return this.version(id);
  }

  /**
   * A late commit: a new record that becomes visible only now, with an updated_at in the
   * past (`updated`, epoch ms), as a transaction that stamped it earlier and committed
   * later makes. Returns its id.
   */
  lateCommit(updated: number): number {
    return this.add(updated);
  }

  /** The next `k` requests fail: answered 503, or their connection closed without an answer. */
  failNext(k: number, mode: FaultMode): void {
    this.faults = { left: k, mode };
  }

  /** The records at or before a watermark (a node's), with a time at or after `from` (epoch ms). */
  countBetween(from: number, to: Watermark): number {
    let n = 0;
    for (const v of this.versions()) {
      if (v.updated < from) continue;
      if (!atOrBefore(v, to)) break;
      n += 1;
    }
    return n;
  }

  private add(updated: number): number {
    if (this.count === this.updatedCol.length) this.grow();
    const slot = this.count++;
    this.updatedCol[slot] = updated;
    this.versionCol[slot] = 1;
    this.insert(slot, this.count - 1);
    return slot + 1;
  }

  private grow(): void {
    const size = this.updatedCol.length * 2;
    const updated = new Float64Array(size);
    updated.set(this.updatedCol);
    const versions = new Uint32Array(size);
    versions.set(this.versionCol);
    const order = new Int32Array(size);
    order.set(this.order);
    [this.updatedCol, this.versionCol, this.order] = [updated, versions, order];
  }

  private slotOf(id: number): number {
    if (!Number.isInteger(id) || id < 1 || id > this.count) throw new Error(`no incident ${id}`);
    return id - 1;
  }

  /** Is slot a before the position (t, id)? */
  private before(slot: number, t: number, id: number): boolean {
    const u = this.updatedCol[slot];
    return u < t || (u === t && slot + 1 < id);
  }

  /** The first index in `order` whose record is not before (t, id). */
  private lowerBound(t: number, id: number, length = this.count): number {
    let lo = 0;
    let hi = length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.before(this.order[mid], t, id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Puts a slot into the order; `length`: entries in order before it (default: all but this one). */
  private insert(slot: number, length = this.count - 1): void {
    const at = this.lowerBound(this.updatedCol[slot], slot + 1, length);
    this.order.copyWithin(at + 1, at, length);
    this.order[at] = slot;
  }

  private remove(slot: number): void {
    const at = this.lowerBound(this.updatedCol[slot], slot + 1);
    if (this.order[at] !== slot) throw new Error(`incident ${slot + 1} is not where its time puts it`);
    this.order.copyWithin(at, at + 1, this.count);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests += 1;
    const request = this.requests;
    for await (const chunk of req) void chunk;
    if (this.faults.left > 0) {
      this.faults.left -= 1;
      this.injected += 1;
      if (this.faults.mode === 'close') {
        req.socket.destroy();
        return;
      }
      return this.answer(res, 503, { error: 'injected failure' });
    }
    const url = new URL(req.url ?? '/', 'http://source');
    if (req.method !== 'GET' || url.pathname !== PATH) return this.answer(res, 404, { error: 'not found' });
    if (this.auth) {
      const refused = await this.refusal(req.headers.authorization);
      if (refused) {
        this.unauthorized += 1;
        res.setHeader('WWW-Authenticate', `Bearer error="invalid_token", error_description="${refused}"`);
        return this.answer(res, 401, { error: refused });
      }
    }
    const updatedAfter = url.searchParams.get('updated_after') ?? '';
    const idAfter = url.searchParams.get('id_after') ?? '';
    const limitText = url.searchParams.get('limit') ?? '';
    const limit = Number(limitText);
    const t = updatedAfter === '' ? 0 : Date.parse(updatedAfter);
    const problem =
      !INTEGER.test(limitText) || limit < 1 || limit > 10_000
        ? `limit ${JSON.stringify(limitText)}`
        : Number.isNaN(t)
          ? `updated_after ${JSON.stringify(updatedAfter)}`
          : idAfter !== '' && !INTEGER.test(idAfter)
            ? `id_after ${JSON.stringify(idAfter)}`
            : undefined;
    if (problem) {
      this.badRequests.push(`${req.url}: ${problem}`);
      return this.answer(res, 400, { error: `bad ${problem}` });
    }
    // updated_after '': every record; id_after '': at or after the time (before every id at it).
    const from = updatedAfter === '' ? 0 : this.lowerBound(t, idAfter === '' ? -Infinity : Number(idAfter) + 1);
    const records: Version[] = [];
    for (let i = from; i < this.count && records.length < limit; i++) {
      const slot = this.order[i];
      records.push({ id: slot + 1, updated: this.updatedCol[slot], n: this.versionCol[slot] });
    }
    const result: Incident[] = records.map((r) => ({ id: r.id, updated_at: new Date(r.updated).toISOString(), title: title(r.id, r.n), n: r.n }));
    this.pages += 1;
    this.answer(res, 200, { result });
    this.emit('page', { request, page: this.pages, query: { updatedAfter, idAfter, limit }, records, last: records.length < limit });
  }

  /** Why the Authorization header is refused, or undefined when its token is valid now. */
  private async refusal(header: string | undefined): Promise<string | undefined> {
    const auth = this.auth!;
    const token = /^Bearer (\S+)$/i.exec(header ?? '')?.[1];
    if (!token) return 'no bearer token';
    const decoded = decodeJwt(token);
    if (!decoded) return 'malformed token';
    const algorithms = parseAlgorithms('RS256');
    if (typeof algorithms === 'string') throw new Error(algorithms);
    const key = await this.jwks!.key(decoded.header.kid, decoded.header.alg).catch(() => undefined);
    if (!key || !verifyWithJwk(decoded, key, algorithms)) return 'bad signature';
    const reason = checkClaims(decoded.claims, { issuer: auth.issuer, audience: auth.audience, nowSec: Date.now() / 1000, clockToleranceSec: 0 });
    if (reason) return reason;
    const age = Date.now() / 1000 - (decoded.claims.iat ?? 0);
    if (auth.maxAgeSec !== undefined && age > auth.maxAgeSec) return 'token expired';
    this.tokensAccepted.add(decoded.claims.jti ?? decoded.signingInput);
    return undefined;
  }

  private answer(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}

/** Is a version at or before a watermark (in the order of a delta load)? */
export function atOrBefore(v: Version, w: Watermark): boolean {
  if (w.updatedAfter === null) return false;
  if (v.updated !== w.updatedAfter) return v.updated < w.updatedAfter;
  return w.idAfter === null ? false : compareIds(String(v.id), w.idAfter) <= 0;
}

export interface DeltaSenderOptions {
  /** rps-delta-load properties over those below and the node's defaults (url, source, paging, schedule...). */
  load: Record<string, unknown>;
  /** B's base URL and the credentials each side presents. */
  remoteUrl: string;
  outbound: { user: string; password: string };
  inbound: { user: string; password: string };
  /** The process event's name, as B's flow knows it (default: tools/flows' PROCESS_EVENT). */
  processEvent?: string;
  /** Settings of the remote system for B (retry and probe times...) over its defaults. */
  remote?: Record<string, string>;
  /** More config nodes (a remote system for the source, an rps-store...). */
  config?: FlowNode[];
  /** Nodes on the tab for source 'flow' (they answer the page requests of 'load' output 2). */
  pageSource?: FlowNode[];
}

/** The id of the delta-load node in deltaSenderFlow (its watermark's node_id). */
export const DELTA_NODE = 'load';
/** The capture table of deltaSenderFlow: B knows each record as `incident/<id>`. */
export const DELTA_TABLE = 'incident';

/**
 * A's flow: rps-delta-load → rps-capture → rps-correlate → rps-map → rps-send to B (the
 * remote system `rs`), and an `http in` POST /load/run that starts a run (for schedule
 * 'input'). B's fields are those of tools/flows' receiverFlow: `title` (B's name), `n`,
 * `origin` ('A').
 */
export function deltaSenderFlow(o: DeltaSenderOptions): FlowNode[] {
  const z = 'tab-load';
  return [
    { id: z, type: 'tab', label: 'Delta load' },
    { id: 'pe', type: 'rps-process-event', name: o.processEvent ?? PROCESS_EVENT },
    {
      id: 'rs',
      type: 'rps-remote-system',
      name: 'B',
      url: o.remoteUrl,
      authType: 'basic',
      ...o.remote,
      credentials: { user: o.outbound.user, password: o.outbound.password, inboundUser: o.inbound.user, inboundPassword: o.inbound.password },
    },
    ...(o.config ?? []),
    { id: 'run', type: 'http in', z, url: '/load/run', method: 'post', x: 100, y: 50, wires: [['run-msg', 'run-ok']] },
    { id: 'run-msg', type: 'change', z, rules: [{ t: 'set', p: 'action', pt: 'msg', to: 'run', tot: 'str' }], x: 250, y: 50, wires: [[DELTA_NODE]] },
    { id: 'run-ok', type: 'http response', z, statusCode: '200', x: 250, y: 20, wires: [] },
    {
      id: DELTA_NODE,
      type: 'rps-delta-load',
      z,
      // Only what differs from the node's defaults (and what the tests rely on).
      source: 'rest',
      recordsPath: 'result',
      schedule: 'interval',
      interval: '1',
      ...o.load,
      x: 400,
      y: 100,
      wires: [['cap'], o.pageSource?.length ? [o.pageSource[0].id] : []],
    },
    ...(o.pageSource ?? []).map((n) => ({ z, ...n })),
    ...outboundChain(z, { table: DELTA_TABLE, titleField: 'title', x: 550 }),
  ];
}
