/**
 * Reads a running Node-RED's SQLite store file from outside it (read-only, its own
 * connection): for the benchmarks and the end-to-end tests, never the product.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';

/** When the instance in `userDir` first stored a change from its remote at or after `since` (ms), if it has. */
export function firstChangeReceivedSince(userDir: string, since: number): number | undefined {
  const db = new Database(join(userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const at = db.prepare(`SELECT min(received_at) FROM rps_inbound WHERE kind = 'change' AND received_at >= ?`).pluck().get(since);
    return typeof at === 'number' ? at : undefined;
  } finally {
    db.close();
  }
}
