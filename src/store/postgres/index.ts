/**
 * The PostgreSQL store (`pg`): several Node-RED processes share one set of queues. Same
 * tables and meaning as the SQLite store; one concern module per sub-object, all on one
 * pool (see ../postgres/context.ts). A new concern is one line here. What changes
 * because several processes share it:
 *
 * - Outbound rows are claimed with `FOR UPDATE SKIP LOCKED` and a lease: workers never
 *   wait for each other, and per-record order holds across workers (outbound/postgres.ts).
 * - Inbound rows are stamped with this store's session (session.ts); a store that opens
 *   emits again only the rows of sessions that are gone (inbound/postgres.ts).
 * - Migrations run under an advisory lock (migrate.ts).
 * - The server may restart under a running store. Connections that break are dropped
 *   and opened again on the next call; calls fail meanwhile with StoreUnavailableError
 *   (faults.ts); no error of a broken connection may go unhandled (an unhandled 'error'
 *   event ends the process); the session lock is taken again.
 *
 * Times are bigint epoch milliseconds, as in SQLite; int8 values are read as numbers.
 */
import { Pool, type PoolConfig, types } from 'pg';
import { PostgresAttachmentsOut, PostgresInboundFiles } from '../attachments/postgres';
import { PostgresCorrelations } from '../correlations/postgres';
import { PostgresErrorQueue } from '../error-queue/postgres';
import { PostgresInbound, releaseGoneSessions } from '../inbound/postgres';
import { PostgresOutbound } from '../outbound/postgres';
import { PostgresRefreshTokens } from '../refresh-tokens/postgres';
import { PostgresRetention } from '../retention/postgres';
import { PostgresCaptureStates } from '../capture-states/postgres';
import { PostgresJournalMarks } from '../journal-marks/postgres';
import { PostgresMetrics } from '../metrics/postgres';
import { PostgresFieldStamps } from '../field-stamps/postgres';
import { PostgresPeers } from '../peers/postgres';
import type { Store } from '../store';
import { PostgresValues } from '../values/postgres';
import { PostgresWatermarks } from '../watermarks/postgres';
import type { PgContext } from './context';
import { migrate } from './migrate';
import { Session } from './session';

/** A schema name we accept unquoted: lower-case letters, digits and _, at most 63. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** int8 (ids, counts, epoch ms) as JS numbers: every value we store is below 2^53. */
const INT8 = 20;
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary' ? (v: string) => Number(v) : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
};

/**
 * The connection string with the password put into it. pg lets every value of a
 * connection string override the same option, and it reads a URL without a password as
 * the password '' (so a `password` option next to such a URL is never used).
 */
function withPassword(connectionString: string, password: string | undefined): string {
  if (password === undefined) return connectionString;
  const url = new URL(connectionString);
  // Encoded whole: pg decodes the URL's password with decodeURIComponent.
  url.password = encodeURIComponent(password);
  return url.toString();
}

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` (any `pg` connection string). */
  connectionString: string;
  /** The password, when it is kept apart from the connection string (Node-RED credentials). */
  password?: string;
  /** The schema holding the store's tables, created when missing; default: the connection's search_path. */
  schema?: string;
  pool?: { max?: number };
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly outbound: PostgresOutbound;
  readonly inbound: PostgresInbound;
  readonly errorQueue: PostgresErrorQueue;
  readonly correlations: PostgresCorrelations;
  readonly values: PostgresValues;
  readonly refreshTokens: PostgresRefreshTokens;
  readonly retention: PostgresRetention;
  readonly captureStates: PostgresCaptureStates;
  readonly journalMarks: PostgresJournalMarks;
  readonly fieldStamps: PostgresFieldStamps;
  readonly peers: PostgresPeers;
  readonly watermarks: PostgresWatermarks;
  readonly metrics: PostgresMetrics;
  readonly attachmentsOut: PostgresAttachmentsOut;
  readonly inboundFiles: PostgresInboundFiles;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly p: PgContext,
    readonly schema: string | undefined,
  ) {
    this.outbound = new PostgresOutbound(p);
    this.inbound = new PostgresInbound(p);
    this.errorQueue = new PostgresErrorQueue(p);
    this.correlations = new PostgresCorrelations(p);
    this.values = new PostgresValues(p);
    this.refreshTokens = new PostgresRefreshTokens(p);
    this.retention = new PostgresRetention(p);
    this.captureStates = new PostgresCaptureStates(p);
    this.journalMarks = new PostgresJournalMarks(p);
    this.fieldStamps = new PostgresFieldStamps(p);
    this.peers = new PostgresPeers(p);
    this.watermarks = new PostgresWatermarks(p);
    this.metrics = new PostgresMetrics(p);
    this.attachmentsOut = new PostgresAttachmentsOut(p);
    this.inboundFiles = new PostgresInboundFiles(p);
  }

  get instanceId(): string {
    return this.p.instanceId;
  }

  /**
   * Connects, applies pending migrations (safe when several processes start at once),
   * takes this store's session lock, and emits again the inbound rows of stores that
   * are gone. Rows of live stores, and outbound leases that have not run out, are left
   * alone: other processes share the queues.
   */
  static async open(o: PostgresStoreOptions): Promise<PostgresStore> {
    if (o.schema !== undefined && !SCHEMA_NAME.test(o.schema)) {
      throw new Error(`schema "${o.schema}": use lower-case letters, digits and _ (at most 63), starting with a letter or _`);
    }
    const config: PoolConfig = {
      connectionString: withPassword(o.connectionString, o.password),
      max: o.pool?.max ?? 10,
      types: TYPES,
      // Every pooled connection resolves our unqualified table names in the schema.
      ...(o.schema ? { options: `-c search_path=${o.schema}` } : {}),
    };
    const pool = new Pool(config);
    // An idle connection that breaks (server restart) is dropped by the pool and the next
    // query opens a new one; without a listener the error would end the process.
    pool.on('error', () => undefined);
    const session = new Session(config);
    try {
      const instanceId = await migrate(pool, o.schema);
      await session.hold();
      await releaseGoneSessions(pool);
      return new PostgresStore({ pool, session, instanceId }, o.schema);
    } catch (err) {
      await session.close();
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  /** Opened by `open`. */
  async opened(): Promise<void> {}

  async close(): Promise<void> {
    this.closing ??= (async () => {
      await this.p.pool.end().catch(() => undefined);
      await this.p.session.close();
    })();
    await this.closing;
  }
}
