/**
 * The SQLite store's migrations, in order. Each runs once, inside the same IMMEDIATE
 * transaction that records it in `rps_migrations` (see ../migrate.ts), so two processes
 * opening a new file at once cannot both apply it. Number 3 is PostgreSQL's only.
 */
import type { Migration } from '../../shared/migration';
import { migration as m1 } from './001-queues';
import { migration as m2 } from './002-values';
import { migration as m4 } from './004-status-checks';
import { migration as m5 } from './005-capture-states';
import { migration as m6 } from './006-journal-marks';
import { migration as m7 } from './007-field-stamps';
import { migration as m8 } from './008-peers';
import { migration as m9 } from './009-watermarks';
import { migration as m10 } from './010-metrics';
import { migration as m11 } from './011-attachments';

export const SQLITE_MIGRATIONS: readonly Migration[] = [m1, m2, m4, m5, m6, m7, m8, m9, m10, m11];
