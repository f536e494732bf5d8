/**
 * What all remote systems of one Node-RED runtime share, without Node-RED: open stores
 * (reference-counted, so a redeploy that keeps a store keeps it open, each with its
 * cleaner), the receiver that answers remotes' calls, the senders by remote system, and
 * the id this process writes into the rows it claims. What happens is reported as codes
 * with parameters (the node layer words them in the user's language).
 */
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { API_PREFIX, DEFAULT_LIMITS } from '../core/protocol';
import { handshakeHandler, type InboundRoute, inboundRouter, messagesHandler, type RouteMatching, tokenHandler } from '../transport/inbound-http';
import { AttachmentService } from './attachments';
import { AttachmentStaging } from './attachment-staging';
import { Cleaner } from './cleaner';
import { CorrelationLookup } from './correlation-lookup';
import { LoadMarks } from './delta-load';
import { type FinishedRows, StatsRecorder } from './metrics';
import type { LinkKey } from './link-identity';
import { type InboundPeer, Receiver } from './receiver';
import { type AttachmentApi, attachmentRoutes } from '../transport/attachment-http';
import type { RemoteSystem } from './remote';
import { type SealKeys, StoreSecrets } from './secrets';
import { openStore, type RetentionPolicy, type Store, type StoreLocation, storeKey, storeLabel, StoreUnavailableError } from './stores';

export interface StoreConfig {
  location: StoreLocation;
  /** This instance's name, as remotes see it in handshakes and envelopes. */
  instanceName: string;
  retention: RetentionPolicy;
}

/** Failed authentications per client address and second before 429 (settings.js: rpsRemoteSystemAuthFailureRate). */
export const DEFAULT_AUTH_FAILURE_RATE = 5;

/** Something worth a log line: `code` names the text (per `topic`), `params` fill it in. */
export interface RuntimeEvent {
  /** Whose texts: the store's or the remote system's. */
  topic: 'rps-store' | 'rps-remote-system';
  level: 'info' | 'warn';
  code: string;
  params: Record<string, string | number>;
}

export interface RuntimeOptions {
  /** The keys that seal the secrets in our stores. */
  sealKeys: () => Promise<SealKeys>;
  authFailuresPerSec: number;
  report: (event: RuntimeEvent) => void;
  /**
   * Where the attachments of stores that are not a file wait (PostgreSQL): a folder per
   * store under it. A SQLite store keeps them in a folder beside its file. Default: the
   * working directory.
   */
  attachmentRoot?: string;
}

/** `work`'s answer, or `unavailable` when the store cannot be reached (the caller tries again later: 503). */
async function unlessUnavailable<T>(work: () => Promise<T>, unavailable: T): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof StoreUnavailableError) return unavailable;
    throw err;
  }
}

/** Where a store's attachment content waits: beside a SQLite file, or a folder per PostgreSQL store under `root`. */
export function stagingFolder(location: StoreLocation, root: string): string {
  if (location.kind === 'sqlite') return `${location.path}-attachments`;
  return join(root, 'rps-attachments', createHash('sha256').update(storeKey(location)).digest('hex').slice(0, 16));
}

/** Serves the rps/1 API: answers a request on one of its routes (returns true) or leaves it (false). */
export type ApiHandler = ReturnType<typeof inboundRouter>;
export type { RouteMatching };

/** A store this runtime has open, with what runs beside it. */
interface OpenStore {
  store: Store;
  refs: number;
  cleaner: Cleaner;
  lookup: CorrelationLookup;
  stats: StatsRecorder;
  attachments: AttachmentService;
  config: StoreConfig;
}

/** An open store as the monitor lists it. */
export interface OpenStoreInfo {
  /** storeKey of its location: stable while it is open, and across restarts. */
  key: string;
  /** How logs and the monitor name it (a file path, or a server without its password). */
  label: string;
  kind: Store['kind'];
  store: Store;
  stats: StatsRecorder;
}

export class EngineRuntime {
  /**
   * Distinguishes this process's claims from those of a process that died. Host and pid
   * first, so that whoever reads a shared store's `locked_by` sees which process holds a
   * row; the random part tells a restarted process with the same pid from its predecessor.
   */
  readonly owner = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  readonly receiver: Receiver;
  /** The OAuth2 tokens and signing keys in our stores, sealed with the credential secret. */
  readonly secrets: StoreSecrets;
  private readonly stores = new Map<string, OpenStore>();
  /** The remote systems of this runtime that can send, by config node id. */
  readonly remotes = new Map<string, RemoteSystem>();
  /** The link keys of this runtime's remote systems, by config node id. */
  readonly identities = new Map<string, LinkKey>();
  /** Rows that finished in any open store (its key, the rows), as its recorder counts them: the monitor listens. */
  readonly finished = new EventEmitter<{ rows: [storeKey: string, rows: FinishedRows] }>();
  /**
   * Remote systems (config node ids) whose inbound rows must not be emitted now: paused, or
   * whether they are paused is still being read (engine/pause.ts, remote-link.ts).
   */
  readonly inboundHolds = new Map<string, object>();
  /** Where send, capture and the flow report the delta-load records they ended. */
  readonly loads = new LoadMarks();
  protected readonly report: (event: RuntimeEvent) => void;
  private readonly attachmentRoot: string;

  constructor(options: RuntimeOptions) {
    this.report = options.report;
    this.attachmentRoot = options.attachmentRoot ?? process.cwd();
    this.secrets = new StoreSecrets(options.sealKeys, {
      unreadable: (store, name) => this.storeEvent('secret-unreadable', this.labelOf(store) ?? '(closed)', { name }),
    });
    this.receiver = new Receiver({
      limits: () => DEFAULT_LIMITS,
      authFailuresPerSec: Number.isFinite(options.authFailuresPerSec) ? options.authFailuresPerSec : DEFAULT_AUTH_FAILURE_RATE,
      secrets: this.secrets,
    });
  }

  private storeEvent(code: string, label: string, params: RuntimeEvent['params'] = {}, level: RuntimeEvent['level'] = 'warn'): void {
    this.report({ topic: 'rps-store', level, code, params: { store: label, ...params } });
  }

  /** Opens (or shares) the store at `config.location`; each call must be paired with releaseStore. */
  acquireStore(config: StoreConfig): Store {
    const key = storeKey(config.location);
    const label = storeLabel(config.location);
    const open = this.stores.get(key);
    if (open) {
      open.refs += 1;
      if (JSON.stringify(open.config) !== JSON.stringify(config)) this.storeEvent('opened-again', label);
      return open.store;
    }
    const store = openStore(config.location, {
      onOpen: (attempts) => {
        if (attempts > 1) this.storeEvent('open', label, {}, 'info');
      },
      onFailure: (err, retryInMs) => this.storeEvent('open-failed', label, { error: err.message, seconds: Math.round(retryInMs / 1000) }),
      // One line when the server goes away and one when it is back, whatever the nodes try meanwhile.
      onUnavailable: (err) => this.storeEvent('unavailable', label, { error: err.message }),
      onAvailable: (failed) => this.storeEvent('available', label, { failed }, 'info'),
    });
    const cleaner = new Cleaner({
      store,
      policy: config.retention,
      intervalMs: 60 * 60 * 1000,
      firstRunMs: 60 * 1000,
      batch: 1000,
      onPurged: (n) => {
        this.storeEvent('purged', label, { outbound: n.outbound, inbound: n.inbound, errorQueue: n.errorQueue }, 'info');
        // Said loudly: these messages were never delivered or applied.
        if (n.undelivered > 0) this.storeEvent('purged-undelivered', label, { count: n.undelivered });
      },
      onFault: (err) => {
        if (!(err instanceof StoreUnavailableError)) this.storeEvent('clean-failed', label, { error: err.message });
      },
    });
    cleaner.start();
    const stats = new StatsRecorder(store);
    stats.on('finished', (rows) => this.finished.emit('rows', key, rows));
    stats.on('fault', (err) => {
      if (!(err instanceof StoreUnavailableError)) this.storeEvent('stats-failed', label, { error: err.message });
    });
    const attachments = new AttachmentService({
      store,
      staging: new AttachmentStaging(stagingFolder(config.location, this.attachmentRoot)),
      secrets: this.secrets,
      keyFor: (id) => this.keyFor(id),
      remotes: () => this.remotes,
      inboundHeld: (id) => this.inboundHeld(id),
    });
    attachments.on('fault', (err) => {
      if (!(err instanceof StoreUnavailableError)) this.storeEvent('attachments-failed', label, { error: err.message });
    });
    attachments.start();
    this.stores.set(key, { store, refs: 1, cleaner, lookup: new CorrelationLookup(store.correlations, undefined, (id) => this.keyFor(id)), stats, attachments, config });
    this.sealSecrets(store, label);
    return store;
  }

  /** Once the store is open: secrets found in clear (written by an earlier version) are sealed. */
  private sealSecrets(store: Store, label: string): void {
    store
      .opened(true)
      .then(() => this.secrets.sealAll(store, Date.now()))
      .then((n) => {
        if (n > 0) this.storeEvent('secrets-sealed', label, { count: n }, 'info');
      })
      .catch((err: unknown) => {
        // Closed before it opened: nothing to do. Otherwise they are sealed at the next open.
        if (this.labelOf(store) !== undefined) this.storeEvent('secrets-not-sealed', label, { error: err instanceof Error ? err.message : String(err) });
      });
  }

  /** How logs name an open store. */
  private labelOf(store: Store): string | undefined {
    for (const open of this.stores.values()) if (open.store === store) return storeLabel(open.config.location);
    return undefined;
  }

  /** The cleaner of an open store (to run it now). */
  cleanerOf(store: Store): Cleaner | undefined {
    for (const open of this.stores.values()) if (open.store === store) return open.cleaner;
    return undefined;
  }

  /** The rolling statistics of an open store, where its senders and dispatchers count finished rows. */
  statsOf(store: Store): StatsRecorder | undefined {
    for (const open of this.stores.values()) if (open.store === store) return open.stats;
    return undefined;
  }

  /** The stores open now, in the order they were opened. */
  openStores(): OpenStoreInfo[] {
    return [...this.stores].map(([key, open]) => ({ key, label: storeLabel(open.config.location), kind: open.store.kind, store: open.store, stats: open.stats }));
  }

  /** The attachment sync of an open store (both ends of the protocol). */
  attachmentsOf(store: Store): AttachmentService | undefined {
    for (const open of this.stores.values()) if (open.store === store) return open.attachments;
    return undefined;
  }

  /** The correlation lookups of an open store, shared by every node that uses it (so they go in batches). */
  lookupOf(store: Store): CorrelationLookup | undefined {
    for (const open of this.stores.values()) if (open.store === store) return open.lookup;
    return undefined;
  }

  /** The link key of a remote system (its config node id) now; the id itself when it is not deployed. */
  keyOf(remoteSystem: string): string {
    return this.identities.get(remoteSystem)?.value ?? remoteSystem;
  }

  /** The link key of a remote system once it is read from the store. */
  async keyFor(remoteSystem: string): Promise<string> {
    const identity = this.identities.get(remoteSystem);
    return identity ? identity.settled() : remoteSystem;
  }

  /**
   * Whether two remote systems (config node ids) are links to the same remote: the same
   * node, or nodes whose link keys are the same instance (two nodes for one remote).
   */
  sameLink(a: string, b: string): boolean {
    return a === b || this.keyOf(a) === this.keyOf(b);
  }

  /** sameLink, once both links are read from the store (a link not read yet is its node id). */
  async sameLinkRead(a: string, b: string): Promise<boolean> {
    if (a === b) return true;
    const [ka, kb] = await Promise.all([this.keyFor(a), this.keyFor(b)]);
    return ka === kb;
  }

  /** Whether the inbound rows of this remote system wait: a remote-system node of its link holds them (see inboundHolds). */
  inboundHeld(remoteSystem: string): boolean {
    for (const id of this.inboundHolds.keys()) if (this.sameLink(id, remoteSystem)) return true;
    return false;
  }

  /** Rows of these remote systems' outbound queues were put back to ready: try them now. */
  notifyOutbound(remoteSystem?: string): void {
    for (const [id, remote] of this.remotes) if (remoteSystem === undefined || this.sameLink(remoteSystem, id)) remote.outbox.retryNow();
  }

  /** Rows of these inbound queues may be ready to emit again. */
  notifyInbound(remoteSystem?: string, processEvent?: string): void {
    if (remoteSystem === undefined) {
      this.receiver.notifyEndpoints(undefined, processEvent);
      return;
    }
    // Every remote-system node of the same remote instance shares its inbound rows.
    this.receiver.notifyEndpoints(remoteSystem, processEvent);
    for (const id of this.identities.keys()) if (id !== remoteSystem && this.sameLink(id, remoteSystem)) this.receiver.notifyEndpoints(id, processEvent);
  }

  async releaseStore(store: Store): Promise<void> {
    for (const [key, open] of this.stores) {
      if (open.store !== store) continue;
      open.refs -= 1;
      if (open.refs === 0) {
        this.stores.delete(key);
        await open.cleaner.stop();
        await open.attachments.stop();
        await open.stats.stop();
        await store.close();
      }
      return;
    }
  }

  /**
   * The attachment endpoints, as the receiver authenticates and admits callers; each
   * request goes to the attachment sync of the store the caller's remote system uses.
   */
  private attachmentApi(): AttachmentApi<InboundPeer> {
    const r = this.receiver;
    const of = (peer: InboundPeer): AttachmentService | undefined => this.attachmentsOf(peer.store);
    const closed = { status: 503, code: 'store-unavailable', error: "this remote system's store is not open" } as const;
    return {
      authenticate: (authorization) => r.authenticate(authorization),
      admit: (peer) => r.admit(peer, 'messages'),
      limits: (peer) => r.limits(peer),
      throttled: (address) => r.throttled(address),
      failed: (address) => r.failed(address),
      onRefused: (status, reason) => r.onRefused?.(status, reason),
      pull: (peer, request) => unlessUnavailable(async () => (await of(peer)?.pull(peer.id, request)) ?? closed, closed),
      contentTarget: (peer, ref) => unlessUnavailable(async () => (await of(peer)?.contentTarget(peer.id, ref)) ?? { ok: false, ...closed }, { ok: false, ...closed }),
      // Not counted while the store is away: the next pull resumes from what is on disk.
      contentWritten: (peer, ref, received) => unlessUnavailable(async () => of(peer)?.contentWritten(peer.id, ref, received), undefined),
      complete: (peer, request) => unlessUnavailable(async () => (await of(peer)?.complete(peer.id, request)) ?? closed, closed),
    };
  }

  /** The rps/1 API of the receiver (messages, handshake, token, attachments), matched as `options` say. */
  apiHandler(options: RouteMatching): ApiHandler {
    const routes: InboundRoute[] = [
      { path: `${API_PREFIX}/messages`, method: 'POST', handle: messagesHandler(this.receiver) },
      { path: `${API_PREFIX}/handshake`, method: 'GET', handle: handshakeHandler(this.receiver) },
      { path: `${API_PREFIX}/token`, method: 'POST', handle: tokenHandler(this.receiver) },
      ...attachmentRoutes(this.attachmentApi()),
    ];
    return inboundRouter(routes, options);
  }
}
