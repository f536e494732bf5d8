/**
 * The PostgreSQL store's migrations, in order: the same tables and meaning as SQLite's,
 * in PostgreSQL types. Ids are bigserial; times stay bigint epoch milliseconds, as in
 * SQLite, so the interfaces are the same for both. Payloads stay `text`: a payload is
 * the message exactly as it is sent, and jsonb would re-order and re-space it.
 *
 * They run at open in one transaction that holds the migration lock (see ../migrate.ts),
 * so several processes starting at once apply each one once. The numbers follow
 * SQLite's; 3 (claim and purge indexes fit for several workers) is PostgreSQL's only,
 * and 4 (status checks) is SQLite's only: PostgreSQL had them from the start.
 * 5 (capture states), 6 (journal marks), 8 (peers), 9 (watermarks), 10 (metrics) and 11 (attachments) are in both.
 */
import type { Migration } from '../../shared/migration';
import { migration as m1 } from './001-queues';
import { migration as m2 } from './002-values';
import { migration as m3 } from './003-claim-indexes';
import { migration as m5 } from './005-capture-states';
import { migration as m6 } from './006-journal-marks';
import { migration as m7 } from './007-field-stamps';
import { migration as m8 } from './008-peers';
import { migration as m9 } from './009-watermarks';
import { migration as m10 } from './010-metrics';
import { migration as m11 } from './011-attachments';

export const POSTGRES_MIGRATIONS: readonly Migration[] = [m1, m2, m3, m5, m6, m7, m8, m9, m10, m11];
