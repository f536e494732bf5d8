/**
 * The engine's runtime inside Node-RED: one per Node-RED instance, with the rps/1
 * routes on `RED.httpNode`, the editor's admin routes, and the engine's events
 * written to Node-RED's log in the user's language.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RETENTION } from '../engine/cleaner';
import { DEFAULT_AUTH_FAILURE_RATE, EngineRuntime, type RuntimeEvent, type StoreConfig } from '../engine/runtime';
import { AdminRoutes } from './admin/routes';
import { common, MODULE } from './common';
import { sealKeysOf } from './credential-secret';
import { serveFirst } from './routes';
import type { NodeAPI } from './red';

export type { StoreConfig };
export type { StoreLocation } from '../engine/stores';
export { DEFAULT_AUTH_FAILURE_RATE };

export const DEFAULT_STORE_FILE = 'rps-store.sqlite';

/**
 * An engine event as a log line: `<topic>.log.<code>` from the topic node's catalog
 * (named in full: the runtime is shared, its RED is whichever node set came first).
 */
export function logEvent(RED: NodeAPI, event: RuntimeEvent): void {
  RED.log[event.level](RED._(`${MODULE}/${event.topic}:${event.topic}.log.${event.code}`, event.params));
}

/**
 * Refused requests, logged as one line a minute by status (a remote hammering us
 * with bad requests must not flood the log), never with request content.
 */
class RefusalLog {
  private counts = new Map<number, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly RED: NodeAPI) {}

  count(status: number): void {
    this.counts.set(status, (this.counts.get(status) ?? 0) + 1);
    this.timer ??= setTimeout(() => this.flush(), 60_000).unref();
  }

  private flush(): void {
    this.timer = undefined;
    const counts = [...this.counts].map(([status, n]) => `${n}×${status}`).join(', ');
    this.counts.clear();
    if (counts) logEvent(this.RED, { topic: 'rps-remote-system', level: 'warn', code: 'refused', params: { counts } });
  }
}

export class RpsRuntime extends EngineRuntime {
  /** The editor's admin routes (remote-system state, Validate and activate). */
  readonly adminRoutes: AdminRoutes;
  private readonly refusals: RefusalLog;
  /** How to stop serving the rps/1 routes, while they are served; `off` while they cannot be. */
  private routes: (() => void) | 'off' | undefined;

  constructor(private readonly RED: NodeAPI) {
    super({
      sealKeys: sealKeysOf(RED),
      authFailuresPerSec: Number(RED.settings.rpsRemoteSystemAuthFailureRate ?? DEFAULT_AUTH_FAILURE_RATE),
      report: (event) => logEvent(RED, event),
      // Attachments of PostgreSQL stores wait here (a folder several processes sharing the store must share).
      attachmentRoot: typeof RED.settings.rpsAttachmentDir === 'string' && RED.settings.rpsAttachmentDir !== '' ? RED.settings.rpsAttachmentDir : (RED.settings.userDir ?? process.cwd()),
    });
    this.refusals = new RefusalLog(RED);
    this.receiver.onRefused = (status) => this.refusals.count(status);
    this.adminRoutes = new AdminRoutes(RED);
  }

  defaultStoreConfig(): StoreConfig {
    const dir = this.RED.settings.userDir ?? process.cwd();
    return { location: { kind: 'sqlite', path: join(dir, DEFAULT_STORE_FILE) }, instanceName: hostname(), retention: DEFAULT_RETENTION };
  }

  /**
   * Whether remotes can reach our routes at all: not when settings.js has
   * `httpNodeRoot: false`, which turns off every HTTP node route, ours included.
   */
  get servesInbound(): boolean {
    return this.RED.httpNode !== undefined && this.RED.settings.httpNodeRoot !== false;
  }

  /** Serves the rps/1 routes while at least one remote system may call us (see serveFirst for where). */
  updateRoutes(): void {
    if (this.receiver.size > 0 && this.routes === undefined) {
      const app = this.RED.httpNode;
      if (!app || !this.servesInbound) {
        // Said once per deploy that needs the routes: remotes will get no answer from us.
        this.RED.log.warn(common(this.RED, 'warnings.no-node-http'));
        this.routes = 'off';
        return;
      }
      this.routes = serveFirst(app, (matching) => this.apiHandler(matching));
    } else if (this.receiver.size === 0 && this.routes !== undefined) {
      if (this.routes !== 'off') this.routes();
      this.routes = undefined;
    }
  }
}

const runtimes = new WeakMap<object, RpsRuntime>();
let fallback: RpsRuntime | undefined;

/**
 * Each node set gets its own `RED` object from Node-RED, but they share the runtime's
 * HTTP app, so that is the key that finds the one RpsRuntime of a Node-RED instance.
 */
export function runtimeOf(RED: NodeAPI): RpsRuntime {
  const key = RED.httpNode;
  if (!key) {
    fallback ??= new RpsRuntime(RED);
    return fallback;
  }
  let rt = runtimes.get(key);
  if (!rt) {
    rt = new RpsRuntime(RED);
    runtimes.set(key, rt);
  }
  return rt;
}
