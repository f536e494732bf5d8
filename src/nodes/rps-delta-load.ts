/**
 * rps-delta-load: reads the records a source changed since the watermark and emits them
 * as record changes for *capture* (output 1); with the flow as source, asks for each
 * page on output 2 and takes the page back on its input. The run, its rules and the
 * watermark are the engine's (engine/delta-load.ts); this adapter reads the settings,
 * makes the page source, words the status and takes the actions of input messages.
 */
import { type TimeFormat, TIME_FORMATS, parseTime } from '../core/delta';
import { DELTA_INITIAL_LOADS, DELTA_LOAD_NUMBERS, DELTA_SCHEDULES, DELTA_SOURCES, ruledNumber } from '../core/settings';
import { DeltaLoad, LoadError, type LoadEvent, loadMarkOf, type PageAnswer, type PageRequest, type PageSource, parseCron, type Schedule } from '../engine/delta-load';
import { insecure } from '../engine/remote-link';
import type { Store } from '../engine/stores';
import type { BackoffPolicy } from '../core/backoff';
import { pageUrl, RestSource, plainSourceClient, type SourceClient } from '../engine/delta-rest';
import { common, errorOf, errorText, ThrottledStatus } from './common';
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus, PreparedExpression } from './red';
import { remoteSystemOf, tlsOptionsOf } from './rps-remote-system';
import { storeConfigOf } from './rps-store';
import { runtimeOf } from './runtime';

interface DeltaLoadDef extends NodeDef {
  source?: string;
  url?: string;
  remoteSystem?: string;
  tls?: string;
  headers?: unknown;
  recordsPath?: string;
  idField?: string;
  updatedField?: string;
  timeFormat?: string;
  table?: string;
  pageSize?: string | number;
  lookBack?: string | number;
  pagesInFlight?: string | number;
  recordTimeout?: string | number;
  initial?: string;
  startAfter?: string;
  initialFilter?: string;
  createdField?: string;
  schedule?: string;
  interval?: string | number;
  cron?: string;
  runOnStart?: boolean;
  store?: string;
}

/** The retry delays of a REST source without a remote system: as the outbound queue's defaults. */
const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, maxMs: 60_000 };
const REST_TIMEOUT_MS = 30_000;

function choice<T extends string>(list: readonly T[], value: unknown, fallback: T): T {
  return list.includes(value as T) ? (value as T) : fallback;
}

/** The plain headers of the form's list (name and value, names not empty). */
function headersOf(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(raw)) return out;
  for (const h of raw) {
    const name = typeof h?.name === 'string' ? h.name.trim() : '';
    if (name !== '') out[name] = typeof h.value === 'string' ? h.value : String(h.value ?? '');
  }
  return out;
}

/** The flow as page source: a request on output 2, the page back on the input. */
class FlowSource implements PageSource {
  private pending: { run: number; page: number; answer: (a: PageAnswer) => void } | undefined;

  constructor(
    private readonly node: Pick<Node, 'id' | 'send'>,
    private readonly timeoutMs: number,
    private readonly timeoutError: () => LoadError,
  ) {}

  fetch(request: PageRequest, signal: AbortSignal): Promise<PageAnswer> {
    return new Promise((resolve) => {
      const finish = (a: PageAnswer): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
        this.pending = undefined;
        resolve(a);
      };
      const abort = (): void => finish({ kind: 'transient', error: 'stopped' });
      const timer = setTimeout(() => finish({ kind: 'refused', error: this.timeoutError() }), this.timeoutMs);
      signal.addEventListener('abort', abort, { once: true });
      this.pending = { run: request.run, page: request.page, answer: finish };
      this.node.send([
        null,
        {
          payload: { updatedAfter: request.updatedAfter, idAfter: request.idAfter, limit: request.limit, updatedAfterMs: request.cursor.updatedAfter },
          rps: { direction: 'load-request', node: this.node.id, run: request.run, page: request.page },
        },
      ]);
    });
  }

  /** A page answer came in: true when it answers the request waiting (else it is late or foreign). */
  answer(msg: NodeMessage, run: number, page: number): boolean {
    const p = this.pending;
    if (!p || p.run !== run || p.page !== page) return false;
    const error = errorOf(msg);
    if (error !== undefined) p.answer({ kind: 'refused', error: new LoadError('page-error', { error }) });
    else if (!Array.isArray(msg.payload)) p.answer({ kind: 'refused', error: new LoadError('no-records', { path: 'msg.payload' }) });
    else p.answer({ kind: 'page', records: msg.payload });
    return true;
  }
}

/** A time for the status: to the second, UTC. */
function shortTime(ms: number | null): string {
  return ms === null ? '' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export default function (RED: NodeAPI): void {
  function RpsDeltaLoadNode(this: Node, def: DeltaLoadDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const rt = runtimeOf(RED);
    const t = (key: string, params?: Record<string, unknown>): string => RED._(`rps-delta-load.${key}`, params);
    const status = new ThrottledStatus(node);

    const source = choice(DELTA_SOURCES, def.source, 'rest');
    const schedule = choice(DELTA_SCHEDULES, def.schedule, 'interval');
    const initialLoad = choice(DELTA_INITIAL_LOADS, def.initial, 'all');
    const timeFormat: TimeFormat = choice(TIME_FORMATS, def.timeFormat, 'iso8601');
    const pageSize = ruledNumber(DELTA_LOAD_NUMBERS.pageSize, def.pageSize);
    const recordTimeoutMs = ruledNumber(DELTA_LOAD_NUMBERS.recordTimeout, def.recordTimeout) * 1000;
    const table = (def.table ?? '').trim();
    const idField = (def.idField ?? '').trim() || 'id';
    const updatedField = (def.updatedField ?? '').trim() || 'updated_at';

    let configError: string | undefined;
    let store: Store | undefined;
    let load: DeltaLoad | undefined;
    let flowSource: FlowSource | undefined;
    let filter: PreparedExpression | undefined;
    let stopWaiting: (() => void) | undefined;
    try {
      let startAfter: number | null = null;
      if (initialLoad === 'after') {
        const text = (def.startAfter ?? '').trim();
        try {
          startAfter = parseTime(text, 'iso8601');
        } catch {
          throw new Error(t('errors.bad-start-after', { value: text }));
        }
      }
      const filterText = (def.initialFilter ?? '').trim();
      if (filterText !== '') {
        try {
          filter = RED.util.prepareJSONataExpression(filterText, node);
        } catch (err) {
          throw new Error(t('errors.bad-filter', { error: errorText(err) }));
        }
      }
      let plan: Schedule = { kind: 'input' };
      if (schedule === 'interval') plan = { kind: 'interval', everyMs: ruledNumber(DELTA_LOAD_NUMBERS.interval, def.interval) * 1000 };
      else if (schedule === 'cron') {
        const expression = (def.cron ?? '').trim();
        try {
          parseCron(expression);
        } catch (err) {
          throw new Error(t('errors.bad-cron', { value: expression, error: errorText(err) }));
        }
        plan = { kind: 'cron', expression };
      }
      let pageSource: PageSource;
      let backoff = DEFAULT_BACKOFF;
      if (source === 'flow') {
        flowSource = new FlowSource(node, recordTimeoutMs, () => new LoadError('page-error', { error: t('errors.page-timeout', { seconds: recordTimeoutMs / 1000 }) }));
        pageSource = flowSource;
      } else {
        const template = (def.url ?? '').trim();
        if (template === '') throw new Error(t('errors.no-url'));
        let client: SourceClient;
        let url = template;
        if (def.remoteSystem) {
          const remote = remoteSystemOf(RED, def.remoteSystem).remote;
          if (!remote) throw new Error(t('errors.no-remote-url'));
          if (template.startsWith('/')) url = remote.url.replace(/\/+$/, '') + template;
          client = remote.sourceClient();
          backoff = remote.backoff;
        } else {
          client = plainSourceClient(tlsOptionsOf(RED, def.tls), REST_TIMEOUT_MS);
        }
        let parsed: URL;
        try {
          parsed = new URL(pageUrl(url, { updatedAfter: '', idAfter: '', limit: pageSize }));
          if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(parsed.protocol);
        } catch (err) {
          client.close();
          throw new Error(t('errors.bad-url', { url: template, error: errorText(err) }));
        }
        // The remote system's credentials would travel in clear.
        if (def.remoteSystem && insecure(parsed)) node.warn(t('warnings.insecure-url', { url: parsed.origin }));
        if (!url.includes('{updatedAfter}')) {
          client.close();
          throw new Error(t('errors.no-placeholder'));
        }
        pageSource = new RestSource(client, url, headersOf(def.headers), def.recordsPath ?? '');
      }
      try {
        store = rt.acquireStore(storeConfigOf(RED, def.store));
      } catch (err) {
        pageSource.close?.();
        throw new Error(common(RED, 'errors.store-open', { error: errorText(err) }));
      }
      const keep = filter;
      load = new DeltaLoad({
        node: node.id,
        store,
        source: pageSource,
        idField,
        updatedField,
        timeFormat,
        pageSize,
        lookBackMs: ruledNumber(DELTA_LOAD_NUMBERS.lookBack, def.lookBack) * 1000,
        pagesInFlight: ruledNumber(DELTA_LOAD_NUMBERS.pagesInFlight, def.pagesInFlight),
        recordTimeoutMs,
        startAfter,
        ...((def.createdField ?? '').trim() !== '' ? { createdField: (def.createdField ?? '').trim() } : {}),
        ...(keep
          ? {
              keepInitial: (record: Record<string, unknown>) =>
                new Promise<boolean>((resolve, reject) =>
                  RED.util.evaluateJSONataExpression(keep, record, (err, result) => (err ? reject(new LoadError('bad-filter', { error: err.message })) : resolve(result === true))),
                ),
            }
          : {}),
        backoff,
        marks: rt.loads,
        owner: rt.owner,
        emit: (records) => {
          const msgs: NodeMessage[] = records.map((r) => ({
            payload: r.record,
            operation: r.operation,
            ...(table !== '' ? { table } : {}),
            rps: { direction: 'load', load: r.mark, id: r.id, updated: new Date(r.updated).toISOString() },
          }));
          node.send([msgs, null] as unknown as NodeMessage[]);
        },
        report: (event) => show(event),
      });
      // Node-RED creates a flow's nodes one after another: a page request or records sent
      // before every node has started could reach one not created yet, and be lost.
      const l = load;
      const begin = (): void => l.start(plan, def.runOnStart !== false);
      RED.events.once('flows:started', begin);
      stopWaiting = () => RED.events.removeListener('flows:started', begin);
    } catch (err) {
      configError = errorText(err);
      node.status({ fill: 'red', shape: 'ring', text: t('status.bad-config') });
      node.error(configError);
    }

    let lastWatermark = '';
    const watermarkText = (ms: number | null): string => (ms === null ? t('status.no-watermark') : t('status.watermark', { time: shortTime(ms) }));
    const wording = (err: LoadError): string => {
      const key = `rps-delta-load.errors.${err.code}`;
      const text = RED._(key, err.params);
      return text === key ? err.message : text;
    };
    function show(event: LoadEvent): void {
      const s: NodeStatus = ((): NodeStatus => {
        switch (event.kind) {
          case 'running':
            lastWatermark = watermarkText(event.watermark.updatedAfter);
            return {
              fill: 'blue',
              shape: 'dot',
              text: (event.page === 0 ? t('status.starting') : t('status.running', { page: event.page, count: event.count })) + lastWatermark,
            };
          case 'retrying':
            return { fill: 'yellow', shape: 'ring', text: t('status.retrying', { error: event.error }) };
          case 'waiting':
            return { fill: 'blue', shape: 'ring', text: t('status.waiting', { count: event.count }) + lastWatermark };
          case 'paused':
            return { fill: 'grey', shape: 'ring', text: t('status.paused') };
          case 'elsewhere':
            return { fill: 'grey', shape: 'dot', text: t('status.elsewhere') };
          case 'reset':
            lastWatermark = watermarkText(event.watermark.updatedAfter);
            return { fill: 'grey', shape: 'dot', text: t('status.reset') + lastWatermark };
          case 'finished': {
            lastWatermark = watermarkText(event.watermark.updatedAfter);
            if (event.error) {
              const text = wording(event.error);
              node.error(t('errors.run', { error: text }));
              return { fill: 'red', shape: 'ring', text: t('status.stopped', { error: text }) };
            }
            return { fill: 'green', shape: 'dot', text: t('status.idle', { count: event.count, time: shortTime(event.at) }) + lastWatermark };
          }
        }
      })();
      if (event.kind === 'finished' || event.kind === 'paused' || event.kind === 'reset' || event.kind === 'retrying') status.now(s);
      else status.set(() => s);
    }

    node.on('input', (msg, _send, done) => {
      if (configError || !load) {
        done(new Error(configError ?? t('errors.bad-config')));
        return;
      }
      const rps = typeof msg.rps === 'object' && msg.rps !== null ? (msg.rps as Record<string, unknown>) : undefined;
      // A record the flow ended on purpose some other way than send or capture.
      const mark = loadMarkOf(rps?.load);
      if (mark && mark.node === node.id) {
        rt.loads.done(mark);
        done();
        return;
      }
      if (rps?.direction === 'load-request' && rps.node === node.id) {
        if (!flowSource) node.warn(t('warnings.not-flow-source'));
        else flowSource.answer(msg, Number(rps.run), Number(rps.page));
        done();
        return;
      }
      /** A message the node cannot act on: red status, and the error to Catch nodes. */
      const refuse = (text: string): void => {
        status.now({ fill: 'red', shape: 'ring', text });
        done(new Error(text));
      };
      const action = typeof msg.action === 'string' ? msg.action : 'run';
      const l = load;
      switch (action) {
        case 'run':
          if (!l.runNow()) status.now({ fill: 'blue', shape: 'ring', text: t('status.busy') });
          done();
          return;
        case 'pause':
          l.pause();
          done();
          return;
        case 'resume':
          l.resume();
          done();
          return;
        case 'reset': {
          let to: number | null = null;
          if (msg.payload !== undefined && msg.payload !== null && msg.payload !== '') {
            try {
              to = typeof msg.payload === 'number' ? parseTime(msg.payload, 'epoch-ms') : parseTime(msg.payload, 'iso8601');
            } catch {
              refuse(t('errors.bad-reset', { value: String(msg.payload) }));
              return;
            }
          }
          l.reset(to).then(
            () => done(),
            (err: unknown) => {
              status.now({ fill: 'red', shape: 'ring', text: t('status.stopped', { error: errorText(err) }) });
              done(new Error(t('errors.store', { error: errorText(err) })));
            },
          );
          return;
        }
        default:
          refuse(t('errors.bad-action', { action }));
      }
    });

    node.on('close', (_removed, done) => {
      status.stop();
      stopWaiting?.();
      void (async () => {
        try {
          await load?.close();
          if (store) await rt.releaseStore(store);
        } catch (err) {
          node.error(common(RED, 'errors.store', { error: errorText(err) }));
        } finally {
          done();
        }
      })();
    });
  }
  RED.nodes.registerType('rps-delta-load', RpsDeltaLoadNode);
}
