/**
 * The rps-monitor plugin inside Node-RED: the admin API (figures, actions, Prometheus
 * text) and the monitor page under the editor's admin root, and the figures pushed to
 * every open editor over RED.comms (throttled; see FiguresPush) so that the sidebar
 * needs no polling. The editor side is nodes/rps-monitor.html and
 * resources/rps-monitor-view.js.
 */
import { timingSafeEqual } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Direction } from '../core/stats';
import type { RemoteSystemNode } from '../nodes/rps-remote-system';
import { MODULE } from '../nodes/common';
import type { NodeAPI, RequestHandler } from '../nodes/red';
import { runtimeOf } from '../nodes/runtime';
import { type Handler, MonitorApi, type MonitorHost } from './api';
import { monitorContext } from './context';
import { type Figures, gatherFigures, storeId } from './figures';
import { PrometheusFigures } from './prometheus';
import { FiguresPush } from './push';

export const TOPIC = 'rps-monitor/figures';
export const ROOT = '/rps-monitor';
/** Error rows in pushed figures: the newest; the view asks the API for more with a filter. */
const PUSHED_ERROR_ROWS = 50;

/** settings.js: `rpsMonitor: { metricsToken }`. */
interface MonitorSettings {
  /** A bearer token that may read /rps-monitor/metrics without a Node-RED login (for Prometheus). */
  metricsToken?: string;
}

function settingsOf(RED: NodeAPI): MonitorSettings {
  const s = RED.settings.rpsMonitor;
  return s !== null && typeof s === 'object' ? (s as MonitorSettings) : {};
}

/** The host of the API: the runtime's stores and remote systems, as the monitor sees them. */
export function monitorHost(RED: NodeAPI, prometheus: PrometheusFigures, changed: () => void): MonitorHost {
  const rt = runtimeOf(RED);
  return {
    context: () => monitorContext(RED),
    remote(id) {
      const node = RED.nodes.getNode(id) as RemoteSystemNode | null;
      // A remote system that could not start (no store, say) has no states to act on.
      return node && node.type === 'rps-remote-system' && typeof node.pause === 'function' ? node : undefined;
    },
    requeued(direction: Direction, remoteSystem) {
      if (direction === 'outbound') rt.notifyOutbound(remoteSystem);
      else rt.notifyInbound(remoteSystem);
    },
    filesRequeued(store) {
      rt.attachmentsOf(store)?.kick();
    },
    async prometheus(figures: Figures) {
      return { type: prometheus.contentType, text: await prometheus.text(figures) };
    },
    changed,
    text: (key, params) => RED._(`${MODULE}/rps-monitor:rps-monitor.${key}`, params),
  };
}

/** Read permission, or the metrics token of settings.js (compared in constant time). */
function metricsGuard(RED: NodeAPI, read: RequestHandler): RequestHandler {
  const token = settingsOf(RED).metricsToken;
  if (typeof token !== 'string' || token === '') return read;
  const expected = Buffer.from(`Bearer ${token}`);
  return (req, res, next) => {
    const given = Buffer.from(String(req.headers.authorization ?? ''));
    if (given.length === expected.length && timingSafeEqual(given, expected)) next();
    else read(req, res, next);
  };
}

const PACKAGE_DIR = join(__dirname, '..', '..', '..');
const PAGE_FILE = join(PACKAGE_DIR, 'resources', 'rps-monitor-page.html');
const CATALOG_DIR = join(PACKAGE_DIR, 'nodes', 'locales');

/** The view's words by language, read once (the route that serves them needs no login). */
function catalogs(): Map<string, string> {
  const out = new Map<string, string>();
  for (const lang of readdirSync(CATALOG_DIR)) {
    try {
      const texts = (JSON.parse(readFileSync(join(CATALOG_DIR, lang, 'rps-monitor.json'), 'utf8')) as Record<string, unknown>)['rps-monitor'];
      out.set(lang.toLowerCase(), JSON.stringify(texts ?? {}));
    } catch {
      // Not translated into this one.
    }
  }
  return out;
}

/** The catalog of the first of (at most five) languages the browser asks for that we have, else en-US's. */
function catalogFor(all: Map<string, string>, acceptLanguage: string | undefined): string {
  const asked = (acceptLanguage ?? '').split(',', 5).map((l) => l.split(';')[0].trim().toLowerCase());
  for (const lang of [...asked, 'en-us']) {
    const found = all.get(lang);
    if (found !== undefined) return found;
  }
  return '{}';
}

export default function (RED: NodeAPI): void {
  RED.plugins?.registerPlugin('rps-monitor', { type: 'rps-monitor' });
  const app = RED.httpAdmin;
  const auth = RED.auth;
  // Without Node-RED's admin app and permission checks the monitor is not offered at all.
  if (!app || !auth) return;
  const rt = runtimeOf(RED);
  const prometheus = new PrometheusFigures();
  let push: FiguresPush | undefined;
  const host = monitorHost(RED, prometheus, () => push?.poke());
  const api = new MonitorApi(host);
  // The node ids of link keys, for the Prometheus counters' labels: read again at each
  // push (not at each finished row, which would walk every deployed node).
  let nodeIds = new Map<string, string>();
  const nodeIdOf = (key: string): string => nodeIds.get(key) ?? key;
  push = new FiguresPush(
    async () => {
      const ctx = host.context();
      nodeIds = new Map(ctx.remotes.flatMap((r) => [[r.linkKey, r.id], [r.id, r.id]]));
      // Pushed to every editor that is connected (Node-RED's comms check no permission of
      // ours): sums, states and the error rows' texts, as node statuses carry, but no
      // payloads (GET rps-monitor/payload, with read permission, has them).
      return gatherFigures(ctx, {}, { errorRows: PUSHED_ERROR_ROWS, payloads: false });
    },
    (figures) => RED.comms?.publish(TOPIC, figures, true),
    (err) => RED.log.warn(host.text('log.push-failed', { error: err.message })),
  );
  rt.finished.on('rows', (key, rows) => {
    prometheus.observe(storeId(key), nodeIdOf(rows.remoteSystem), rows);
    push?.poke();
  });
  push.start();

  const read = auth.needsPermission('rps-monitor.read');
  const write = auth.needsPermission('rps-monitor.write');
  const h = (handler: Handler): RequestHandler => (req, res) => handler(req, res);
  const texts = catalogs();
  app.get(`${ROOT}/messages`, (req, res) => {
    const text = catalogFor(texts, req.headers['accept-language']);
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
  app.get(`${ROOT}/figures`, read, h(api.getFigures));
  app.get(`${ROOT}/payload`, read, h(api.getPayload));
  app.get(`${ROOT}/metrics`, metricsGuard(RED, read), h(api.getMetrics));
  app.post(`${ROOT}/retry`, write, h(api.retry));
  app.post(`${ROOT}/skip`, write, h(api.skip));
  app.post(`${ROOT}/files/retry`, write, h(api.retryFiles));
  app.post(`${ROOT}/remote/:id/validate`, write, h(api.validate));
  app.post(`${ROOT}/remote/:id/pause`, write, h(api.pause));
  app.post(`${ROOT}/remote/:id/resume`, write, h(api.resume));
  // The page holds no data (it asks the API, with the editor's login), like the editor's own page.
  let page: string | undefined;
  app.get(`${ROOT}/`, (_req, res) => {
    page ??= readFileSync(PAGE_FILE, 'utf8');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(page), 'Cache-Control': 'no-store' });
    res.end(page);
  });
}
