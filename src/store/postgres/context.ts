/** What every concern module of the PostgreSQL store works with. */
import type { Pool } from 'pg';
import type { Session } from './session';

export interface PgContext {
  pool: Pool;
  /** This store's session (inbound rows emitted are stamped with it). */
  session: Session;
  instanceId: string;
}
