/**
 * The monitor's view, gathered from the open stores' aggregate queries and the remote
 * systems' states: what the sidebar, the full page, the API, the rps-stats node and the
 * Prometheus endpoint all show. Only sums come from the stores (store/metrics), never
 * rows, except the page of rows in error that an operator acts on.
 */
import { createHash } from 'node:crypto';
import { maskedPayload } from '../core/mask';
import { addSums, averageMs, type Direction, emptySums, HOUR_MS, MINUTE_MS, minuteOf, quantileMs, type StatsSums, successRate } from '../core/stats';
import type { OpenStoreInfo } from '../engine/runtime';
import type { QueueStatus, StatsFilter, StatusCounts } from '../store/store';
import { emptyCounts } from '../store/store';
import { addFiles, emptyFiles, type FileRemote, type FilesFigures, storeFiles } from './files';

/** A deployed remote system as the monitor shows it (from its node, see plugin.ts). */
export interface MonitorRemote {
  /** The config node's id. */
  id: string;
  name: string;
  /** storeKey of its store. */
  storeKey: string;
  /** The remote_system of its rows (engine/link-identity): its id until the remote's instance id is known. */
  linkKey: string;
  outbound: string;
  inbound: string;
  outboundError?: string;
  inboundError?: string;
  paused: boolean;
}

export interface MonitorContext {
  stores: readonly OpenStoreInfo[];
  remotes: readonly MonitorRemote[];
  now: number;
  /** The node that handles a row (rps-send for outbound, rps-inbound for inbound), to reveal it in the editor. */
  handlerOf?: (direction: Direction, remoteSystem: string | undefined, processEvent: string) => string | undefined;
}

export interface MonitorFilter {
  /** A store's id (storeId). */
  store?: string;
  /** A remote system's config node id. */
  remoteSystem?: string;
  processEvent?: string;
}

/** Rows finished in one window of time. */
export interface WindowCounts {
  processed: number;
  errors: number;
  /** processed / (processed + errors), or null when nothing finished. */
  successRate: number | null;
}

/** A window with processing times (the histogram is summed over the last 24 hours only). */
export interface WindowFigures extends WindowCounts {
  averageMs: number | null;
  p95Ms: number | null;
}

export interface QueueView {
  store: string;
  direction: Direction;
  /** The remote system's node id when one is deployed for these rows, else the rows' key. */
  remoteSystem: string;
  remoteName: string;
  processEvent: string;
  counts: StatusCounts;
  oldestWaitingAgeMs: number | null;
  lastProcessedAt: number | null;
}

export interface SeriesPoint {
  at: number;
  outbound: { processed: number; errors: number };
  inbound: { processed: number; errors: number };
}

export interface ErrorView {
  store: string;
  direction: Direction;
  id: number;
  /** When it last failed (or was queued, before any attempt). */
  at: number;
  remoteSystem: string;
  remoteName: string;
  processEvent: string;
  record: string;
  error: string;
  attempts: number;
  /** The message with secret-named fields masked (core/mask); left out of pushed figures (GET rps-monitor/payload has it). */
  payload?: string;
  /** The node that handles it, when one is deployed. */
  handler?: string;
}

export interface Figures {
  at: number;
  filter: MonitorFilter;
  /** The open stores; `available` false (with the reason) for one that could not answer now: its figures are left out. */
  stores: { id: string; label: string; kind: string; available: boolean; error?: string }[];
  remotes: (Omit<MonitorRemote, 'storeKey' | 'linkKey'> & { store: string })[];
  processEvents: string[];
  queues: QueueView[];
  /** Sums over all queues shown, by direction. */
  depth: Record<Direction, StatusCounts & { oldestWaitingAgeMs: number | null; lastProcessedAt: number | null }>;
  /** This minute, the last hour and the last 24 hours, by direction. */
  windows: Record<Direction, { minute: WindowCounts; hour: WindowCounts; day: WindowFigures }>;
  /** The last hour by minute and the last day by hour; steps without rows are left out. */
  series: { hour: SeriesPoint[]; day: SeriesPoint[] };
  /** The processing-time histogram of the last 24 hours, by direction (bounds in core/stats). */
  histogram: Record<Direction, number[]>;
  errors: { total: number; rows: ErrorView[] };
  /** Attachment files received (inbound files) per remote system, and the newest in error (at most the error rows). */
  files: FilesFigures;
}

/** A short, stable id for a store (its key holds a path or a connection string). */
export function storeId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 10);
}

const DIRECTIONS: readonly Direction[] = ['outbound', 'inbound'];

function countsOf(s: Pick<StatsSums, 'processed' | 'errors'>): WindowCounts {
  return { processed: s.processed, errors: s.errors, successRate: successRate(s) };
}

function windowOf(s: StatsSums): WindowFigures {
  return { ...countsOf(s), averageMs: averageMs(s), p95Ms: quantileMs(s, 0.95) };
}

/** Rows shown in the error list at most (the counts say how many there are in all). */
export const ERROR_ROWS = 100;

/** What to read besides the sums: the rows in error, and their payloads. */
export interface GatherOptions {
  /** Rows in error per queue and store (default ERROR_ROWS; 0: none, e.g. for Prometheus). */
  errorRows?: number;
  /** With each error row's payload (default true). Pushed figures go without: see plugin.ts. */
  payloads?: boolean;
}

export async function gatherFigures(ctx: MonitorContext, filter: MonitorFilter, options: GatherOptions = {}): Promise<Figures> {
  const errorRows = options.errorRows ?? ERROR_ROWS;
  const payloadOf = (text: string): string | undefined => (options.payloads === false ? undefined : maskedPayload(text));
  const now = ctx.now;
  const stores = ctx.stores.filter((s) => filter.store === undefined || storeId(s.key) === filter.store);
  const remote = filter.remoteSystem === undefined ? undefined : ctx.remotes.find((r) => r.id === filter.remoteSystem);
  // A remote system that is not deployed (any more) is still a filter: by its id, the key of rows not linked yet.
  const keys = filter.remoteSystem === undefined ? undefined : [...new Set([remote?.linkKey ?? filter.remoteSystem, filter.remoteSystem])];
  const statsFilter: StatsFilter = { ...(keys ? { remoteSystems: keys } : {}), ...(filter.processEvent !== undefined ? { processEvent: filter.processEvent } : {}) };
  const nameOf = (storeKey: string, key: string): { id: string; name: string } => {
    const r = ctx.remotes.find((x) => x.storeKey === storeKey && (x.linkKey === key || x.id === key));
    return r ? { id: r.id, name: r.name || r.id } : { id: key, name: key };
  };

  const hourStart = minuteOf(now) - 59 * MINUTE_MS;
  const dayStart = Math.floor(now / HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
  const sums = { minute: emptySumsBy(), hour: emptySumsBy(), day: emptySumsBy() };
  const thisMinute = minuteOf(now);
  const hourPoints = new Map<number, SeriesPoint>();
  const dayPoints = new Map<number, SeriesPoint>();
  const queues: QueueView[] = [];
  const errors: ErrorView[] = [];
  let errorTotal = 0;
  const events = new Set<string>();
  const files = emptyFiles();
  /** The remote systems whose files a store's figures count: the one filtered on, or the store's deployed ones. */
  const fileRemotes = (storeKey: string): FileRemote[] =>
    keys
      ? [{ id: filter.remoteSystem as string, name: remote?.name || (filter.remoteSystem as string), keys, deployed: remote?.storeKey === storeKey }]
      : ctx.remotes.filter((r) => r.storeKey === storeKey).map((r) => ({ id: r.id, name: r.name || r.id, keys: [...new Set([r.linkKey, r.id])], deployed: true }));

  // A store that cannot answer (a PostgreSQL server away) is left out and said to be
  // away; the others are shown. Each store's figures are added only once all of its
  // queries answered.
  const settled = await Promise.allSettled(
    stores.map(async (s) => {
      const id = storeId(s.key);
      const [figures, totals, hour, day, outErrors, inErrors, storeFileFigures] = await Promise.all([
        s.store.metrics.queues(statsFilter),
        s.store.metrics.totals(statsFilter, dayStart),
        s.store.metrics.series(statsFilter, hourStart, MINUTE_MS),
        s.store.metrics.series(statsFilter, dayStart, HOUR_MS),
        errorRows > 0 ? s.store.metrics.outboundErrors(statsFilter, errorRows) : [],
        errorRows > 0 ? s.store.metrics.inboundErrors(statsFilter, errorRows) : [],
        storeFiles(s.store.inboundFiles, id, fileRemotes(s.key), keys === undefined, errorRows, (key) => nameOf(s.key, key)),
      ]);
      addFiles(files, storeFileFigures, errorRows);
      for (const q of figures) {
        const r = nameOf(s.key, q.remoteSystem);
        events.add(q.processEvent);
        errorTotal += q.counts.error;
        queues.push({
          store: id,
          direction: q.direction,
          remoteSystem: r.id,
          remoteName: r.name,
          processEvent: q.processEvent,
          counts: q.counts,
          oldestWaitingAgeMs: q.oldestWaitingAt === null ? null : Math.max(0, now - q.oldestWaitingAt),
          lastProcessedAt: q.lastProcessedAt,
        });
      }
      for (const t of totals) {
        events.add(t.processEvent);
        addSums(sums.day[t.direction], t);
      }
      for (const p of hour) {
        addPoint(hourPoints, p);
        const into = sums.hour[p.direction];
        into.processed += p.processed;
        into.errors += p.errors;
        if (p.at >= thisMinute) {
          sums.minute[p.direction].processed += p.processed;
          sums.minute[p.direction].errors += p.errors;
        }
      }
      for (const p of day) addPoint(dayPoints, p);
      for (const row of outErrors) {
        const r = nameOf(s.key, row.remoteSystem);
        errors.push({
          store: id,
          direction: 'outbound',
          id: row.id,
          at: row.lastAttemptAt ?? row.createdAt,
          remoteSystem: r.id,
          remoteName: r.name,
          processEvent: row.processEvent,
          record: `${row.recordTable}/${row.recordId}`,
          error: row.lastError ?? '',
          attempts: row.attempts,
          payload: payloadOf(row.payload),
          ...handler(ctx, 'outbound', r.id, row.processEvent),
        });
      }
      for (const row of inErrors) {
        const r = nameOf(s.key, row.remoteSystem);
        errors.push({
          store: id,
          direction: 'inbound',
          id: row.id,
          at: row.processedAt ?? row.startedAt ?? row.receivedAt,
          remoteSystem: r.id,
          remoteName: r.name,
          processEvent: row.processEvent,
          record: `${row.sourceTable}/${row.sourceId}`,
          error: row.lastError ?? '',
          attempts: row.attempts,
          payload: payloadOf(row.payload),
          ...handler(ctx, 'inbound', r.id, row.processEvent),
        });
      }
    }),
  );
  const away = new Map<string, string>();
  settled.forEach((r, i) => {
    if (r.status === 'rejected') away.set(stores[i].key, r.reason instanceof Error ? r.reason.message : String(r.reason));
  });

  const windows = Object.fromEntries(
    DIRECTIONS.map((d) => [d, { minute: countsOf(sums.minute[d]), hour: countsOf(sums.hour[d]), day: windowOf(sums.day[d]) }]),
  ) as Figures['windows'];
  const depth = Object.fromEntries(DIRECTIONS.map((d) => [d, { ...emptyCounts(), oldestWaitingAgeMs: null as number | null, lastProcessedAt: null as number | null }])) as Figures['depth'];
  for (const q of queues) {
    const into = depth[q.direction];
    for (const st of Object.keys(q.counts) as QueueStatus[]) into[st] += q.counts[st];
    if (q.oldestWaitingAgeMs !== null) into.oldestWaitingAgeMs = Math.max(into.oldestWaitingAgeMs ?? 0, q.oldestWaitingAgeMs);
    if (q.lastProcessedAt !== null) into.lastProcessedAt = Math.max(into.lastProcessedAt ?? 0, q.lastProcessedAt);
  }
  const shownStores = new Set(stores.map((s) => s.key));
  queues.sort((a, b) => a.remoteName.localeCompare(b.remoteName) || a.processEvent.localeCompare(b.processEvent) || a.direction.localeCompare(b.direction));
  errors.sort((a, b) => b.at - a.at);
  files.counts.sort((a, b) => a.remoteName.localeCompare(b.remoteName) || a.store.localeCompare(b.store));
  return {
    at: now,
    filter,
    stores: ctx.stores.map((s) => ({ id: storeId(s.key), label: s.label, kind: s.kind, available: !away.has(s.key), ...(away.has(s.key) ? { error: away.get(s.key) } : {}) })),
    remotes: ctx.remotes
      .filter((r) => shownStores.has(r.storeKey) && (filter.remoteSystem === undefined || r.id === filter.remoteSystem))
      .map(({ storeKey, linkKey, ...r }) => ({ ...r, store: storeId(storeKey) })),
    processEvents: [...events].sort(),
    queues,
    depth,
    windows,
    series: { hour: sorted(hourPoints), day: sorted(dayPoints) },
    histogram: { outbound: sums.day.outbound.buckets, inbound: sums.day.inbound.buckets },
    errors: { total: errorTotal, rows: errors.slice(0, errorRows) },
    files,
  };
}

function emptySumsBy(): Record<Direction, StatsSums> {
  return { outbound: emptySums(), inbound: emptySums() };
}

function handler(ctx: MonitorContext, direction: Direction, remoteSystem: string, processEvent: string): { handler?: string } {
  const id = ctx.handlerOf?.(direction, remoteSystem, processEvent);
  return id === undefined ? {} : { handler: id };
}

function addPoint(points: Map<number, SeriesPoint>, p: { at: number; direction: Direction; processed: number; errors: number }): void {
  let point = points.get(p.at);
  if (!point) {
    point = { at: p.at, outbound: { processed: 0, errors: 0 }, inbound: { processed: 0, errors: 0 } };
    points.set(p.at, point);
  }
  point[p.direction].processed += p.processed;
  point[p.direction].errors += p.errors;
}

function sorted(points: Map<number, SeriesPoint>): SeriesPoint[] {
  return [...points.values()].sort((a, b) => a.at - b.at);
}
