/**
 * The embedded SQLite store: one concern module per sub-object, all on one SqliteDb
 * (one file, owned by one Node-RED process). A new concern is one line here.
 */
import { SqliteAttachmentsOut, SqliteInboundFiles } from '../attachments/sqlite';
import { SqliteCaptureStates } from '../capture-states/sqlite';
import { SqliteCorrelations } from '../correlations/sqlite';
import { SqliteErrorQueue } from '../error-queue/sqlite';
import { SqliteFieldStamps } from '../field-stamps/sqlite';
import { SqliteInbound } from '../inbound/sqlite';
import { SqliteJournalMarks } from '../journal-marks/sqlite';
import { SqliteMetrics } from '../metrics/sqlite';
import { SqliteOutbound } from '../outbound/sqlite';
import { SqlitePeers } from '../peers/sqlite';
import { SqliteRefreshTokens } from '../refresh-tokens/sqlite';
import { SqliteRetention } from '../retention/sqlite';
import type { Store } from '../store';
import { SqliteValues } from '../values/sqlite';
import { SqliteWatermarks } from '../watermarks/sqlite';
import { SqliteDb } from './database';

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly instanceId: string;
  private readonly s: SqliteDb;
  readonly outbound: SqliteOutbound;
  readonly inbound: SqliteInbound;
  readonly errorQueue: SqliteErrorQueue;
  readonly correlations: SqliteCorrelations;
  readonly values: SqliteValues;
  readonly refreshTokens: SqliteRefreshTokens;
  readonly retention: SqliteRetention;
  readonly captureStates: SqliteCaptureStates;
  readonly journalMarks: SqliteJournalMarks;
  readonly fieldStamps: SqliteFieldStamps;
  readonly peers: SqlitePeers;
  readonly watermarks: SqliteWatermarks;
  readonly metrics: SqliteMetrics;
  readonly attachmentsOut: SqliteAttachmentsOut;
  readonly inboundFiles: SqliteInboundFiles;

  constructor(readonly path: string) {
    this.s = new SqliteDb(path);
    this.instanceId = this.s.instanceId;
    this.outbound = new SqliteOutbound(this.s);
    this.correlations = new SqliteCorrelations(this.s);
    this.inbound = new SqliteInbound(this.s, this.outbound, this.correlations);
    this.errorQueue = new SqliteErrorQueue(this.s);
    this.values = new SqliteValues(this.s);
    this.refreshTokens = new SqliteRefreshTokens(this.s);
    this.retention = new SqliteRetention(this.s);
    this.captureStates = new SqliteCaptureStates(this.s);
    this.journalMarks = new SqliteJournalMarks(this.s);
    this.fieldStamps = new SqliteFieldStamps(this.s);
    this.peers = new SqlitePeers(this.s);
    this.watermarks = new SqliteWatermarks(this.s);
    this.metrics = new SqliteMetrics(this.s);
    this.attachmentsOut = new SqliteAttachmentsOut(this.s);
    this.inboundFiles = new SqliteInboundFiles(this.s);
    // One process owns an SQLite store: anything left "processing" belongs to a
    // process that died, so it goes back to ready (to be sent or emitted again).
    this.s.progress(() => {
      this.outbound.releaseAll(Date.now());
      this.inbound.releaseAll();
    });
  }

  /** Opened in the constructor. */
  async opened(): Promise<void> {}

  async close(): Promise<void> {
    await this.s.close();
  }
}
