/**
 * What all our nodes in one Node-RED runtime share: open stores (reference-counted,
 * so a redeploy that keeps a store keeps it open), the receiver with its HTTP routes
 * on `RED.httpNode`, and the id this process writes into the rows it claims.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { API_PREFIX, DEFAULT_LIMITS } from '../core/protocol';
import { Cleaner, DEFAULT_RETENTION } from '../engine/cleaner';
import { Receiver } from '../engine/receiver';
import type { RemoteSystem } from '../engine/remote';
import { OpeningStore, StoreUnavailableError } from '../store/opening';
import { PostgresStore } from '../store/postgres';
import { SqliteStore } from '../store/sqlite';
import type { RetentionPolicy, Store } from '../store/store';
import { handshakeHandler, type InboundRoute, messagesHandler, tokenHandler } from '../transport/inbound-http';
import { StoreSecrets } from '../engine/secrets';
import { AdminRoutes } from './admin';
import { common, errorText } from './common';
import { sealKeysOf } from './credential-secret';
import { serveFirst } from './routes';
import type { NodeAPI } from './red';

/** Where a store lives: a SQLite file, or a PostgreSQL database shared by several Node-RED processes. */
export type StoreLocation =
  | { kind: 'sqlite'; /** Absolute path of the file. */ path: string }
  | {
      kind: 'postgres';
      /** Without the password (that is a credential). */
      connectionString: string;
      password?: string;
      schema?: string;
      poolSize: number;
    };

export interface StoreConfig {
  location: StoreLocation;
  /** This instance's name, as remotes see it in handshakes and envelopes. */
  instanceName: string;
  retention: RetentionPolicy;
}

export const DEFAULT_STORE_FILE = 'rps-store.sqlite';
/** Failed authentications per client address and second before 429 (settings.js: rpsRemoteSystemAuthFailureRate). */
export const DEFAULT_AUTH_FAILURE_RATE = 5;

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
    const text = [...this.counts].map(([status, n]) => `${n}×${status}`).join(', ');
    this.counts.clear();
    if (text) this.RED.log.warn(`rps: refused inbound requests in the last minute: ${text}`);
  }
}

export class RpsRuntime {
  /**
   * Distinguishes this process's claims from those of a process that died. Host and pid
   * first, so that whoever reads a shared store's `locked_by` sees which process holds a
   * row; the random part tells a restarted process with the same pid from its predecessor.
   */
  readonly owner = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  readonly receiver: Receiver;
  /** The OAuth2 tokens and signing keys in our stores, sealed with Node-RED's credential secret. */
  readonly secrets: StoreSecrets;
  private readonly stores = new Map<string, { store: Store; refs: number; cleaner: Cleaner; config: StoreConfig }>();
  /** The remote systems of this runtime that can send, by config node id. */
  readonly remotes = new Map<string, RemoteSystem>();
  /** The editor's admin routes (remote-system state, Validate and activate). */
  readonly adminRoutes: AdminRoutes;
  private readonly refusals: RefusalLog;
  /** How to stop serving the rps/1 routes, while they are served; `off` while they cannot be. */
  private routes: (() => void) | 'off' | undefined;

  constructor(private readonly RED: NodeAPI) {
    this.refusals = new RefusalLog(RED);
    const failures = Number(RED.settings.rpsRemoteSystemAuthFailureRate ?? DEFAULT_AUTH_FAILURE_RATE);
    this.secrets = new StoreSecrets(sealKeysOf(RED), {
      unreadable: (store, name) => RED.log.warn(common(RED, 'warnings.secret-unreadable', { store: this.labelOf(store) ?? '(closed)', name })),
    });
    this.receiver = new Receiver({
      limits: () => DEFAULT_LIMITS,
      authFailuresPerSec: Number.isFinite(failures) ? failures : DEFAULT_AUTH_FAILURE_RATE,
      secrets: this.secrets,
    });
    this.receiver.onRefused = (status) => this.refusals.count(status);
    this.adminRoutes = new AdminRoutes(RED);
  }

  defaultStoreConfig(): StoreConfig {
    const dir = this.RED.settings.userDir ?? process.cwd();
    return { location: { kind: 'sqlite', path: join(dir, DEFAULT_STORE_FILE) }, instanceName: hostname(), retention: DEFAULT_RETENTION };
  }

  /** Opens (or shares) the store at `config.location`; each call must be paired with releaseStore. */
  acquireStore(config: StoreConfig): Store {
    const key = storeKey(config.location);
    const label = storeLabel(config.location);
    const open = this.stores.get(key);
    if (open) {
      open.refs += 1;
      if (JSON.stringify(open.config) !== JSON.stringify(config)) {
        this.RED.log.warn(`rps-store ${label}: opened again with other settings (name, retention or pool); the first settings stay in force`);
      }
      return open.store;
    }
    const store = this.openStore(config.location, label);
    const cleaner = new Cleaner({
      store,
      policy: config.retention,
      intervalMs: 60 * 60 * 1000,
      firstRunMs: 60 * 1000,
      batch: 1000,
      onPurged: (n) => {
        this.RED.log.info(`rps-store ${label}: removed ${n.outbound} outbound, ${n.inbound} inbound, ${n.errorQueue} held rows past retention`);
        // Said loudly: these messages were never delivered or applied.
        if (n.undelivered > 0) this.RED.log.warn(`rps-store ${label}: ${n.undelivered} of them were never delivered (ready or error past retention)`);
      },
      onFault: (err) => {
        if (!(err instanceof StoreUnavailableError)) this.RED.log.warn(`rps-store ${label}: cleaning failed: ${err.message}`);
      },
    });
    cleaner.start();
    this.stores.set(key, { store, refs: 1, cleaner, config });
    this.sealSecrets(store, label);
    return store;
  }

  /** Once the store is open: secrets found in clear (written by an earlier version) are sealed. */
  private sealSecrets(store: Store, label: string): void {
    store
      .opened(true)
      .then(() => this.secrets.sealAll(store, Date.now()))
      .then((n) => {
        if (n > 0) this.RED.log.info(common(this.RED, 'warnings.secrets-sealed', { store: label, count: n }));
      })
      .catch((err: unknown) => {
        // Closed before it opened: nothing to do. Otherwise they are sealed at the next open.
        if (this.labelOf(store) !== undefined) this.RED.log.warn(common(this.RED, 'warnings.secrets-not-sealed', { store: label, error: errorText(err) }));
      });
  }

  /** How logs name an open store. */
  private labelOf(store: Store): string | undefined {
    for (const open of this.stores.values()) if (open.store === store) return storeLabel(open.config.location);
    return undefined;
  }

  /** SQLite opens on the spot; PostgreSQL in the background, trying again while the server cannot be reached. */
  private openStore(location: StoreLocation, label: string): Store {
    if (location.kind === 'sqlite') return new SqliteStore(location.path);
    return new OpeningStore(
      'postgres',
      label,
      () => PostgresStore.open({ connectionString: location.connectionString, password: location.password, schema: location.schema, pool: { max: location.poolSize } }),
      {
        onOpen: (attempts) => {
          if (attempts > 1) this.RED.log.info(`rps-store ${label}: open`);
        },
        onFailure: (err, retryInMs) => this.RED.log.warn(`rps-store ${label}: cannot open: ${err.message}; trying again in ${Math.round(retryInMs / 1000)} s`),
        // One line when the server goes away and one when it is back, whatever the nodes try meanwhile.
        onUnavailable: (err) => this.RED.log.warn(`rps-store ${label}: ${err.message}; the work waits in the queues and is tried again until it is back`),
        onAvailable: (failed) => this.RED.log.info(`rps-store ${label}: the server can be reached again (${failed} store calls failed meanwhile)`),
      },
    );
  }

  /** The cleaner of an open store (to run it now). */
  cleanerOf(store: Store): Cleaner | undefined {
    for (const open of this.stores.values()) if (open.store === store) return open.cleaner;
    return undefined;
  }

  /** Rows of these remote systems' outbound queues were put back to ready: try them now. */
  notifyOutbound(remoteSystem?: string): void {
    for (const [id, remote] of this.remotes) if (remoteSystem === undefined || remoteSystem === id) remote.outbox.retryNow();
  }

  /** Rows of these inbound queues may be ready to emit again. */
  notifyInbound(remoteSystem?: string, processEvent?: string): void {
    this.receiver.notifyEndpoints(remoteSystem, processEvent);
  }

  async releaseStore(store: Store): Promise<void> {
    for (const [key, open] of this.stores) {
      if (open.store !== store) continue;
      open.refs -= 1;
      if (open.refs === 0) {
        this.stores.delete(key);
        await open.cleaner.stop();
        await store.close();
      }
      return;
    }
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
      const routes: InboundRoute[] = [
        { path: `${API_PREFIX}/messages`, method: 'POST', handle: messagesHandler(this.receiver) },
        { path: `${API_PREFIX}/handshake`, method: 'GET', handle: handshakeHandler(this.receiver) },
        { path: `${API_PREFIX}/token`, method: 'POST', handle: tokenHandler(this.receiver) },
      ];
      this.routes = serveFirst(app, routes);
    } else if (this.receiver.size === 0 && this.routes !== undefined) {
      if (this.routes !== 'off') this.routes();
      this.routes = undefined;
    }
  }
}

/** Stores with the same key are one store, shared by the nodes that use it. */
function storeKey(l: StoreLocation): string {
  return l.kind === 'sqlite' ? `sqlite:${l.path}` : `postgres:${l.connectionString}#${l.schema ?? ''}`;
}

/** How logs name a store; never with a password (the connection string has none). */
export function storeLabel(l: StoreLocation): string {
  return l.kind === 'sqlite' ? l.path : `${l.connectionString}${l.schema ? ` (schema ${l.schema})` : ''}`;
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
