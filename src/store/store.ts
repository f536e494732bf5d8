/**
 * The store: where every durable piece of state lives, one interface per concern
 * (outbound queue, inbound queue, error queue, correlations, values, refresh tokens,
 * retention, capture states, journal marks, field stamps, peers, watermarks, metrics,
 * attachments out, inbound files). Each concern has a folder with its types and its
 * SQLite and PostgreSQL modules side by side; `sqlite/index.ts` and `postgres/index.ts` compose them. A new
 * concern is a new folder plus one line in `Store` (and one in each composition).
 * Times are epoch milliseconds, passed in by the caller so that tests control the clock.
 */
import type { AttachmentsOut, InboundFiles } from './attachments/types';
import type { CaptureStates } from './capture-states/types';
import type { Correlations } from './correlations/types';
import type { ErrorQueue } from './error-queue/types';
import type { FieldStamps } from './field-stamps/types';
import type { InboundQueue } from './inbound/types';
import type { JournalMarks } from './journal-marks/types';
import type { Metrics } from './metrics/types';
import type { OutboundQueue } from './outbound/types';
import type { Peers } from './peers/types';
import type { RefreshTokens } from './refresh-tokens/types';
import type { Retention } from './retention/types';
import type { Values } from './values/types';
import type { Watermarks } from './watermarks/types';

export type * from './shared/queue';
export { countsOf, emptyCounts } from './shared/queue';
export type * from './outbound/types';
export type * from './inbound/types';
export type * from './error-queue/types';
export type * from './correlations/types';
export type * from './values/types';
export type * from './refresh-tokens/types';
export type * from './retention/types';
export type * from './capture-states/types';
export type * from './journal-marks/types';
export type * from './field-stamps/types';
export { stampedKey } from './field-stamps/types';
export type * from './peers/types';
export { peerUrl } from './peers/types';
export type * from './watermarks/types';
export type * from './metrics/types';
export type * from './attachments/types';
export { INBOUND_FILE_STATUSES } from './attachments/types';

/** The concerns of a store, by name: what a composition provides and OpeningStore forwards. */
export interface StoreConcerns {
  outbound: OutboundQueue;
  inbound: InboundQueue;
  errorQueue: ErrorQueue;
  correlations: Correlations;
  values: Values;
  refreshTokens: RefreshTokens;
  retention: Retention;
  captureStates: CaptureStates;
  journalMarks: JournalMarks;
  fieldStamps: FieldStamps;
  peers: Peers;
  watermarks: Watermarks;
  metrics: Metrics;
  attachmentsOut: AttachmentsOut;
  inboundFiles: InboundFiles;
}

export type Concern = keyof StoreConcerns;

export interface Store extends Readonly<StoreConcerns> {
  readonly kind: 'sqlite' | 'postgres';
  /** This instance's id: generated once, when the store is created. */
  readonly instanceId: string;
  /**
   * Resolves once the store can be used; read `instanceId` only after this. A PostgreSQL
   * store chosen on rps-store opens in the background and tries again while the server
   * cannot be reached (see OpeningStore): this rejects when the attempt in progress
   * fails, or, with `untilOpen`, only when the store is closed before it opened.
   */
  opened(untilOpen?: boolean): Promise<void>;
  close(): Promise<void>;
}
