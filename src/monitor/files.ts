/**
 * Attachment files in the monitor (issue 16): per remote system, how many inbound files
 * (receiver side) wait, failed, were refused or are stored, and the newest files in
 * error, which an operator retries like queue rows. Read from the store's inbound-file
 * counts and error rows; the process-event filter does not narrow them (a file is
 * counted per remote system only).
 */
import type { InboundFiles, InboundFileStatus } from '../store/store';

export interface FileCountsView {
  store: string;
  /** The remote system's node id when one is deployed for these files, else the files' key. */
  remoteSystem: string;
  remoteName: string;
  counts: Record<InboundFileStatus, number>;
}

export interface FileErrorView {
  store: string;
  /** The inbound file's row id (per store): what POST rps-monitor/files/retry takes. */
  id: number;
  /** When it went to error. */
  at: number;
  remoteSystem: string;
  remoteName: string;
  fileName: string;
  size: number;
  /** The local record it belongs to, `table/id`. */
  target: string;
  error: string;
  attempts: number;
}

export interface FilesFigures {
  counts: FileCountsView[];
  errors: { total: number; rows: FileErrorView[] };
}

/** A remote system whose files a store may hold, under every key its rows may carry (its link key, its node id before that is known). */
export interface FileRemote {
  id: string;
  name: string;
  keys: readonly string[];
  /** Deployed on this store: shown even while it has no files. */
  deployed: boolean;
}

export function emptyFiles(): FilesFigures {
  return { counts: [], errors: { total: 0, rows: [] } };
}

function sumCounts(all: readonly Record<InboundFileStatus, number>[]): Record<InboundFileStatus, number> {
  const [first, ...rest] = all;
  const out = { ...first };
  for (const c of rest) for (const st of Object.keys(c) as InboundFileStatus[]) out[st] += c[st];
  return out;
}

/**
 * One store's file figures. `remotes` are those to count (the filtered one, or the
 * store's deployed ones); `anyRemote` says no remote filter is set, so the errors and
 * their total cover every remote's files, deployed or not.
 */
export async function storeFiles(
  files: InboundFiles,
  store: string,
  remotes: readonly FileRemote[],
  anyRemote: boolean,
  errorRows: number,
  nameOf: (key: string) => { id: string; name: string },
): Promise<FilesFigures> {
  const counts = await Promise.all(remotes.map(async (r) => sumCounts(await Promise.all(r.keys.map((k) => files.counts(k))))));
  const shown: FileCountsView[] = remotes
    .map((r, i) => ({ store, remoteSystem: r.id, remoteName: r.name, counts: counts[i] }))
    .filter((c, i) => remotes[i].deployed || Object.values(c.counts).some((n) => n > 0));
  const keys = anyRemote ? [undefined] : [...new Set(remotes.flatMap((r) => r.keys))];
  const total = anyRemote ? (await files.counts()).error : shown.reduce((n, c) => n + c.counts.error, 0);
  const rows = errorRows > 0 ? (await Promise.all(keys.map((k) => files.errors(k, errorRows)))).flat() : [];
  return {
    counts: shown,
    errors: {
      total,
      rows: rows.map((f) => {
        const r = nameOf(f.remoteSystem);
        return {
          store,
          id: f.id,
          at: f.updatedAt,
          remoteSystem: r.id,
          remoteName: r.name,
          fileName: f.fileName,
          size: f.size,
          target: `${f.target.table}/${f.target.id}`,
          error: f.lastError ?? '',
          attempts: f.attempts,
        };
      }),
    },
  };
}

/** Adds one store's file figures to `into`; the error rows end newest first, at most `errorRows`. */
export function addFiles(into: FilesFigures, more: FilesFigures, errorRows: number): void {
  into.counts.push(...more.counts);
  into.errors.total += more.errors.total;
  into.errors.rows = [...into.errors.rows, ...more.errors.rows].sort((a, b) => b.at - a.at || b.id - a.id).slice(0, errorRows);
}
