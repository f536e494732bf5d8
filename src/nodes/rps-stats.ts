/**
 * rps-stats: the monitor's figures as a message, for people who build their own
 * dashboards (e.g. FlowFuse Dashboard 2.0). On an interval and on any input it reads the
 * figures of its store (filtered by remote system and process event) and sends:
 *   output 1: msg.payload = a summary per direction (waiting, in error, processed per
 *             minute / hour / 24 h, success rate in %, average and p95 time, oldest age),
 *             the remote systems' states, and msg.figures = everything the monitor shows;
 *   output 2: one message per chart series (msg.topic = series, msg.payload = rows
 *             processed in the last full minute), ready for a line chart.
 */
import { MINUTE_MS, minuteOf } from '../core/stats';
import type { Store } from '../engine/stores';
import { STATS_NUMBERS, ruledNumber } from '../core/settings';
import { monitorContext } from '../monitor/context';
import { type Figures, gatherFigures, type MonitorFilter, storeId } from '../monitor/figures';
import { common, errorText, refuseInput, ThrottledStatus } from './common';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './red';
import { processEventOf } from './rps-process-event';
import { remoteSystemOf } from './rps-remote-system';
import { storeConfigOf } from './rps-store';
import { runtimeOf, type StoreConfig } from './runtime';

interface StatsDef extends NodeDef {
  store?: string;
  remoteSystem?: string;
  processEvent?: string;
  interval?: string | number;
}

/** One direction's figures, as a dashboard widget takes them. */
export interface DirectionSummary {
  waiting: number;
  error: number;
  perMinute: number;
  perHour: number;
  perDay: number;
  errorsPerDay: number;
  /** 0–100, or null when nothing finished in 24 hours. */
  successPercent: number | null;
  averageMs: number | null;
  p95Ms: number | null;
  oldestWaitingSeconds: number | null;
}

export function summaryOf(f: Figures): Record<'outbound' | 'inbound', DirectionSummary> & { remotes: Figures['remotes']; errorsInQueue: number } {
  const lastFullMinute = minuteOf(f.at) - MINUTE_MS;
  const direction = (d: 'outbound' | 'inbound'): DirectionSummary => {
    const w = f.windows[d];
    const depth = f.depth[d];
    return {
      waiting: depth.ready + depth.processing,
      error: depth.error,
      perMinute: f.series.hour.find((p) => p.at === lastFullMinute)?.[d].processed ?? 0,
      perHour: w.hour.processed,
      perDay: w.day.processed,
      errorsPerDay: w.day.errors,
      successPercent: w.day.successRate === null ? null : Math.round(w.day.successRate * 1000) / 10,
      averageMs: w.day.averageMs === null ? null : Math.round(w.day.averageMs),
      p95Ms: w.day.p95Ms,
      oldestWaitingSeconds: depth.oldestWaitingAgeMs === null ? null : Math.round(depth.oldestWaitingAgeMs / 1000),
    };
  };
  return { outbound: direction('outbound'), inbound: direction('inbound'), remotes: f.remotes, errorsInQueue: f.errors.total };
}

export default function (RED: NodeAPI): void {
  function RpsStatsNode(this: Node, def: StatsDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const rt = runtimeOf(RED);
    const status = new ThrottledStatus(node, 1000);
    let store: Store;
    const filter: MonitorFilter = {};
    try {
      let config: StoreConfig;
      if (def.remoteSystem) {
        const remote = remoteSystemOf(RED, def.remoteSystem);
        filter.remoteSystem = remote.id;
        // The remote system's own store (remoteSystemOf has checked it is open): never another one in its place.
        if (!remote.storeConfig) throw new Error(common(RED, 'errors.store-unavailable'));
        config = remote.storeConfig;
      } else {
        config = storeConfigOf(RED, def.store);
      }
      if (def.processEvent) filter.processEvent = processEventOf(RED, def.processEvent).eventName;
      store = rt.acquireStore(config);
    } catch (err) {
      refuseInput(node, err);
      return;
    }
    const intervalMs = ruledNumber(STATS_NUMBERS.interval, def.interval) * 1000;
    let timer: NodeJS.Timeout | undefined;
    let closing = false;
    /** Reads under way: the store is released only after them, so a redeploy does not cut a read off. */
    const reading = new Set<Promise<void>>();

    const read = async (): Promise<Figures> => {
      // The remote system's rows carry its link key, read from the store after a deploy: a
      // read before that (the first tick comes a second after the deploy) would miss them.
      if (filter.remoteSystem !== undefined) await rt.keyFor(filter.remoteSystem);
      const ctx = monitorContext(RED);
      const key = ctx.stores.find((s) => s.store === store)?.key;
      return gatherFigures(ctx, { ...filter, store: key === undefined ? '(closed)' : storeId(key) });
    };

    const emit = (msg: NodeMessage, send: (m: (NodeMessage | NodeMessage[] | null)[]) => void): Promise<void> => {
      const p = emitNow(msg, send);
      const tracked = p.then(
        () => undefined,
        () => undefined,
      );
      reading.add(tracked);
      void tracked.then(() => reading.delete(tracked));
      return p;
    };

    const emitNow = async (msg: NodeMessage, send: (m: (NodeMessage | NodeMessage[] | null)[]) => void): Promise<void> => {
      await store.opened();
      const figures = await read();
      const summary = summaryOf(figures);
      msg.payload = summary;
      msg.figures = figures;
      msg.topic ??= def.name || 'rps-stats';
      const series: NodeMessage[] = [
        { topic: RED._('rps-stats.series.outbound'), payload: summary.outbound.perMinute },
        { topic: RED._('rps-stats.series.inbound'), payload: summary.inbound.perMinute },
        { topic: RED._('rps-stats.series.errors'), payload: errorsOf(figures) },
      ];
      send([msg, series]);
      const waiting = summary.outbound.waiting + summary.inbound.waiting;
      const errors = summary.outbound.error + summary.inbound.error;
      status.set(() => ({ fill: errors > 0 ? 'yellow' : 'green', shape: 'dot', text: RED._('rps-stats.status.figures', { waiting, errors }) }));
    };

    const tick = (): void => {
      timer = undefined;
      emit({}, (m) => node.send(m as (NodeMessage | null)[]))
        .catch((err: unknown) => {
          status.now({ fill: 'red', shape: 'ring', text: RED._('rps-stats.status.failed') });
          node.error(common(RED, 'errors.store', { error: errorText(err) }));
        })
        .finally(() => {
          if (!closing && intervalMs > 0) timer = setTimeout(tick, intervalMs);
        });
    };
    if (intervalMs > 0) timer = setTimeout(tick, Math.min(intervalMs, 1000));

    node.on('input', (msg, send, done) => {
      emit(msg, send as (m: (NodeMessage | NodeMessage[] | null)[]) => void).then(
        () => done(),
        (err: unknown) => {
          status.now({ fill: 'red', shape: 'ring', text: RED._('rps-stats.status.failed') });
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });

    node.on('close', (_removed, done) => {
      closing = true;
      if (timer) clearTimeout(timer);
      status.stop();
      Promise.all(reading)
        .then(() => rt.releaseStore(store))
        .catch((err: unknown) => node.error(common(RED, 'errors.store', { error: errorText(err) })))
        .finally(() => done());
    });
  }
  RED.nodes.registerType('rps-stats', RpsStatsNode);
}

/** Rows that went to error in the last full minute, both directions. */
function errorsOf(f: Figures): number {
  const p = f.series.hour.find((x) => x.at === minuteOf(f.at) - MINUTE_MS);
  return p ? p.outbound.errors + p.inbound.errors : 0;
}
