/**
 * The monitor's figures in Prometheus's text format (prom-client). Queue depth, the
 * oldest waiting row, the last processed time, the remote systems' states and the
 * attachment files by status are gauges read from the stores at each scrape (the same
 * Figures as the page). Rows processed and failed, and their processing times, are
 * counted in this process as rows finish (engine/metrics), as Prometheus expects of
 * counters and histograms: they start at 0 with the process, and with a shared
 * PostgreSQL store each Node-RED process exports its own (sum them in queries).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TIME_BOUNDS_MS } from '../core/stats';
import type { FinishedRows } from '../engine/metrics';
import type { Figures } from './figures';

const ROW_LABELS = ['store', 'direction', 'remote_system', 'process_event'] as const;
const STATES = ['loading', 'disabled', 'active', 'error'] as const;

export class PrometheusFigures {
  private readonly registry = new Registry();
  private readonly processed = new Counter({ name: 'rps_rows_processed_total', help: 'Queue rows processed by this process since it started', labelNames: ROW_LABELS, registers: [this.registry] });
  private readonly failed = new Counter({ name: 'rps_rows_failed_total', help: 'Queue rows that went to error in this process since it started', labelNames: ROW_LABELS, registers: [this.registry] });
  private readonly time = new Histogram({
    name: 'rps_processing_seconds',
    help: 'Processing time of processed rows: capture to processed on the sender, received to completed on the receiver',
    labelNames: ROW_LABELS,
    buckets: TIME_BOUNDS_MS.map((ms) => ms / 1000),
    registers: [this.registry],
  });
  private readonly depth = new Gauge({ name: 'rps_queue_rows', help: 'Rows in the queue by status', labelNames: [...ROW_LABELS, 'status'], registers: [this.registry] });
  private readonly oldest = new Gauge({ name: 'rps_queue_oldest_waiting_seconds', help: 'Age of the oldest row ready or processing', labelNames: ROW_LABELS, registers: [this.registry] });
  private readonly lastProcessed = new Gauge({ name: 'rps_queue_last_processed_timestamp_seconds', help: 'When the last row of the queue was processed (Unix time)', labelNames: ROW_LABELS, registers: [this.registry] });
  private readonly remoteState = new Gauge({
    name: 'rps_remote_system_state',
    help: 'State of a remote system per direction: 1 for the state it is in, 0 for the others',
    labelNames: ['store', 'remote_system', 'name', 'direction', 'state'],
    registers: [this.registry],
  });
  private readonly storeUp = new Gauge({ name: 'rps_store_up', help: 'Whether the store answered the figures at this scrape (1) or not (0)', labelNames: ['store', 'kind'], registers: [this.registry] });
  private readonly files = new Gauge({
    name: 'rps_attachment_files',
    help: 'Attachment files received from a remote system, by status (wanted, requested, staged, processing, stored, error, refused)',
    labelNames: ['store', 'remote_system', 'status'],
    registers: [this.registry],
  });
  private readonly paused = new Gauge({ name: 'rps_remote_system_paused', help: 'Whether a remote system is paused by an operator (1) or not (0)', labelNames: ['store', 'remote_system', 'name'], registers: [this.registry] });

  /** Counts rows that finished in this process; `remoteSystem` as the monitor names it (a node id where one is deployed). */
  observe(store: string, remoteSystem: string, rows: FinishedRows): void {
    const labels = { store, direction: rows.direction, remote_system: remoteSystem, process_event: rows.processEvent };
    if (rows.processedMs.length > 0) this.processed.inc(labels, rows.processedMs.length);
    if (rows.errors > 0) this.failed.inc(labels, rows.errors);
    for (const ms of rows.processedMs) this.time.observe(labels, ms / 1000);
  }

  /** The exposition text, with the gauges set from `figures` (unfiltered). */
  async text(figures: Figures): Promise<string> {
    for (const g of [this.depth, this.oldest, this.lastProcessed, this.remoteState, this.paused, this.storeUp, this.files]) g.reset();
    for (const st of figures.stores) this.storeUp.set({ store: st.id, kind: st.kind }, st.available ? 1 : 0);
    for (const q of figures.queues) {
      const labels = { store: q.store, direction: q.direction, remote_system: q.remoteSystem, process_event: q.processEvent };
      for (const [status, n] of Object.entries(q.counts)) this.depth.set({ ...labels, status }, n);
      this.oldest.set(labels, q.oldestWaitingAgeMs === null ? 0 : q.oldestWaitingAgeMs / 1000);
      if (q.lastProcessedAt !== null) this.lastProcessed.set(labels, q.lastProcessedAt / 1000);
    }
    for (const f of figures.files.counts) {
      for (const [status, n] of Object.entries(f.counts)) this.files.set({ store: f.store, remote_system: f.remoteSystem, status }, n);
    }
    for (const r of figures.remotes) {
      for (const direction of ['outbound', 'inbound'] as const) {
        for (const state of STATES) this.remoteState.set({ store: r.store, remote_system: r.id, name: r.name, direction, state }, r[direction] === state ? 1 : 0);
      }
      this.paused.set({ store: r.store, remote_system: r.id, name: r.name }, r.paused ? 1 : 0);
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
