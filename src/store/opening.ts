/**
 * A store that opens in the background. Node-RED constructs nodes synchronously, but a
 * PostgreSQL store has to connect and migrate first, and its server may be down when
 * the flows start. This stands in for the store meanwhile:
 *
 * - an operation called while an opening attempt runs waits for it;
 * - an operation called after an attempt failed fails at once with StoreUnavailableError
 *   (callers already treat store errors as "try again later": the sender keeps its rows,
 *   the receiver answers 503, rps-send reports to Catch nodes), and the opening is tried
 *   again with a growing delay until it succeeds or the store is closed;
 * - once open, every operation goes straight to the real store. When the store's server
 *   cannot be reached any more (a restart), operations fail with StoreUnavailableError
 *   until it is back, and the store reconnects by itself; that outage is reported once
 *   when the first operation fails and once when one succeeds again, not per operation.
 */
import type { Concern, Store, StoreConcerns } from './store';

type Operation = (...args: unknown[]) => Promise<unknown>;

/** The store cannot be used now (not open yet, or its server cannot be reached): keep the work, try again later. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

export interface OpeningEvents {
  /** The store is open (after `attempts` tries). */
  onOpen?(attempts: number): void;
  /** An attempt failed; the next one is in `retryInMs`. */
  onFailure?(err: Error, retryInMs: number): void;
  /** The open store's server cannot be reached: the first operation that failed since it last could. */
  onUnavailable?(err: StoreUnavailableError): void;
  /** An operation succeeded again after `failed` operations failed for want of the server. */
  onAvailable?(failed: number): void;
}

export class OpeningStore implements Store {
  private store: Store | undefined;
  private attempt: Promise<Store> | undefined;
  private failure: Error | undefined;
  private attempts = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Operations that failed since the open store's server was last reached (0: it is reachable). */
  private unreachableFor = 0;
  // Every concern, forwarded as a whole (`implements Store`: the compiler says if one is missing).
  readonly outbound = this.forwarding('outbound');
  readonly inbound = this.forwarding('inbound');
  readonly errorQueue = this.forwarding('errorQueue');
  readonly correlations = this.forwarding('correlations');
  readonly values = this.forwarding('values');
  readonly refreshTokens = this.forwarding('refreshTokens');
  readonly retention = this.forwarding('retention');
  readonly captureStates = this.forwarding('captureStates');
  readonly journalMarks = this.forwarding('journalMarks');
  readonly fieldStamps = this.forwarding('fieldStamps');
  readonly peers = this.forwarding('peers');
  readonly watermarks = this.forwarding('watermarks');
  readonly metrics = this.forwarding('metrics');
  readonly attachmentsOut = this.forwarding('attachmentsOut');
  readonly inboundFiles = this.forwarding('inboundFiles');

  constructor(
    readonly kind: Store['kind'],
    /** What the store is, for error texts (no secrets: no password in it). */
    private readonly label: string,
    private readonly open: () => Promise<Store>,
    private readonly events: OpeningEvents = {},
    private readonly retry = { baseMs: 1000, maxMs: 30_000 },
  ) {
    this.tryOpen();
  }

  get instanceId(): string {
    if (!this.store) throw this.unavailable();
    return this.store.instanceId;
  }

  private waiters: { resolve(): void; reject(err: Error): void }[] = [];

  /** See Store.opened. */
  async opened(untilOpen = false): Promise<void> {
    if (!untilOpen || this.store || this.closed) {
      await this.current();
      return;
    }
    await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The open store, the attempt in progress, or the reason there is neither. */
  current(): Promise<Store> {
    if (this.store) return Promise.resolve(this.store);
    if (this.attempt) return this.attempt;
    return Promise.reject(this.unavailable());
  }

  private unavailable(): StoreUnavailableError {
    if (this.closed) return new StoreUnavailableError(`${this.label} is closed`);
    const why = this.failure ? `: ${this.failure.message}` : ' yet';
    return new StoreUnavailableError(`${this.label} is not open${why}`);
  }

  private tryOpen(): void {
    this.timer = undefined;
    this.attempts += 1;
    const attempt = this.open().then(
      async (store) => {
        if (this.closed) {
          await store.close();
          throw this.unavailable();
        }
        this.store = store;
        this.failure = undefined;
        this.attempt = undefined;
        for (const w of this.waiters.splice(0)) w.resolve();
        this.events.onOpen?.(this.attempts);
        return store;
      },
      (err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(String(err));
        this.attempt = undefined;
        if (!this.closed) {
          const delay = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** Math.min(this.attempts - 1, 16));
          this.timer = setTimeout(() => this.tryOpen(), delay).unref();
          this.events.onFailure?.(this.failure, delay);
        }
        throw this.unavailable();
      },
    );
    // Nobody may be waiting for this attempt: its failure is reported through events, not as an unhandled rejection.
    attempt.catch(() => undefined);
    this.attempt = attempt;
  }

  /** Runs an operation of the open store, keeping count of an outage of its server (see OpeningEvents). */
  async forward<R>(store: Store, operation: () => Promise<R>): Promise<R> {
    try {
      const out = await operation();
      if (this.unreachableFor > 0 && this.store === store) {
        const failed = this.unreachableFor;
        this.unreachableFor = 0;
        this.events.onAvailable?.(failed);
      }
      return out;
    } catch (err) {
      if (err instanceof StoreUnavailableError && this.store === store && !this.closed) {
        this.unreachableFor += 1;
        if (this.unreachableFor === 1) this.events.onUnavailable?.(err);
      }
      throw err;
    }
  }

  /**
   * A concern whose every operation waits for the opening and then runs on the open
   * store's concern (see forward). Generic: a new operation or concern needs nothing here.
   */
  private forwarding<C extends Concern>(concern: C): StoreConcerns[C] {
    const operations = new Map<string, Operation>();
    return new Proxy({} as StoreConcerns[C], {
      get: (_target, name) => {
        // Not a thenable, and no symbol-keyed operations.
        if (typeof name !== 'string' || name === 'then') return undefined;
        let op = operations.get(name);
        if (!op) {
          op = async (...args: unknown[]) => {
            const store = await this.current();
            const target = store[concern] as unknown as Record<string, Operation>;
            return this.forward(store, () => target[name](...args));
          };
          operations.set(name, op);
        }
        return op;
      },
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const w of this.waiters.splice(0)) w.reject(this.unavailable());
    await this.attempt?.catch(() => undefined);
    const store = this.store;
    this.store = undefined;
    await store?.close();
  }
}
