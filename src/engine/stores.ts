/**
 * Opening the configured store: a SQLite file, or a PostgreSQL database shared by
 * several Node-RED processes. The nodes name a location; this is the only place
 * that knows which store class serves it.
 */
import { OpeningStore, type OpeningEvents, StoreUnavailableError } from '../store/opening';
import { PostgresStore, SCHEMA_NAME } from '../store/postgres';
import { SqliteStore } from '../store/sqlite';
import type { CaptureStates, CaptureStateWrite, Correlation, CorrelationKey, Correlations, FinishResult, InboundOutcome, RecordRef, RetentionPolicy, StampedRecord, StampWrite, Store } from '../store/store';
import { stampedKey } from '../store/store';

export { SCHEMA_NAME, stampedKey, StoreUnavailableError };
export type { CaptureStates, CaptureStateWrite, Correlation, CorrelationKey, Correlations, FinishResult, InboundOutcome, OpeningEvents, RecordRef, RetentionPolicy, StampedRecord, StampWrite, Store };
export type { CorrelationSide, CorrelationState, CorrelationStateChange } from '../store/store';

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

/** Stores with the same key are one store, shared by the nodes that use it. */
export function storeKey(l: StoreLocation): string {
  return l.kind === 'sqlite' ? `sqlite:${l.path}` : `postgres:${l.connectionString}#${l.schema ?? ''}`;
}

/** How logs name a store; never with a password (the connection string has none). */
export function storeLabel(l: StoreLocation): string {
  return l.kind === 'sqlite' ? l.path : `${l.connectionString}${l.schema ? ` (schema ${l.schema})` : ''}`;
}

/** SQLite opens on the spot; PostgreSQL in the background, trying again while the server cannot be reached. */
export function openStore(location: StoreLocation, events: OpeningEvents): Store {
  if (location.kind === 'sqlite') return new SqliteStore(location.path);
  return new OpeningStore(
    'postgres',
    storeLabel(location),
    () => PostgresStore.open({ connectionString: location.connectionString, password: location.password, schema: location.schema, pool: { max: location.poolSize } }),
    events,
  );
}
