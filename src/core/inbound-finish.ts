/**
 * The rules of finishing inbound messages, made once here and applied by both stores
 * (which then differ only in SQL): which answer may finish a row, what a processed
 * message changes in the correlation of its record, when a correlation reply is queued,
 * and what a stale message's reason says. Pure: rows and correlations come in as data,
 * what to write goes out as data.
 */
import type { MessageDraft } from './protocol';

/**
 * Why a queue row is in `error`. It decides what may put the row back to `ready` without
 * a person: a remote that answers again takes back `connection` and `auth` rows (the
 * messages were never the problem); the others wait for the retry schedule or a person
 * (reprocess or skip).
 */
export type ErrorKind = 'connection' | 'auth' | 'refused' | 'flow' | 'timeout';

/** The end of one inbound message's processing, as `rps-complete` reports it. */
export interface InboundOutcome {
  id: number;
  /** The attempt that is being completed: a late answer for an earlier attempt is ignored. */
  attempt: number;
  status: 'processed' | 'error';
  error?: string;
  /** Defaults to `flow`. */
  errorKind?: ErrorKind;
  /** The local record the message was applied to: creates or updates the correlation. */
  local?: { table: string; id: string };
  /** Marks the correlation inactive (the record was deleted). */
  deactivate?: boolean;
  /** Sent back to the remote when the correlation is new or changed, so it can address the twin. */
  reply?: MessageDraft;
}

/** `replied`: finished, and a correlation reply was queued with it (the sender has something to send). */
export type FinishResult = 'finished' | 'replied' | 'stale';

/** What the decision needs of a row: its attempt count and status as locked/read in the finishing transaction. */
export interface FinishableRow {
  id: number;
  attempts: number;
  status: string;
}

export interface FinishPlan<R extends FinishableRow> {
  /** Per outcome, in order. */
  results: FinishResult[];
  /** Rows to put in `error`: the last outcome of each row that finished it with an error. */
  errors: { id: number; error: string; kind: ErrorKind }[];
  /** Outcomes that processed their row, in order (a row appears once at most). */
  processed: { outcome: InboundOutcome; row: R }[];
}

/**
 * Decides a batch of outcomes against the rows they finish, in order, as one by one: an
 * outcome sees what the ones before it did to its row.
 *
 * Only the attempt that is out may finish a row: a late answer for an attempt that timed
 * out and was emitted again must not finish the new attempt. A late answer for the
 * attempt that timed out (the row is in `error`) still counts: the flow did finish it.
 */
export function planFinish<R extends FinishableRow>(outcomes: readonly InboundOutcome[], rows: ReadonlyMap<number, R>): FinishPlan<R> {
  const status = new Map<number, string>();
  const lastError = new Map<number, InboundOutcome>();
  const processed: { outcome: InboundOutcome; row: R }[] = [];
  const results = outcomes.map((o): FinishResult => {
    const row = rows.get(o.id);
    const now = status.get(o.id) ?? row?.status;
    if (!row || row.attempts !== o.attempt || (now !== 'processing' && now !== 'error')) return 'stale';
    if (o.status === 'error') {
      status.set(o.id, 'error');
      lastError.set(o.id, o);
    } else {
      status.set(o.id, 'processed');
      lastError.delete(o.id);
      processed.push({ outcome: o, row });
    }
    return 'finished';
  });
  const errors = [...lastError.values()].map((o) => ({ id: o.id, error: o.error ?? 'error', kind: o.errorKind ?? 'flow' }));
  return { results, errors, processed };
}

/** The correlation of a remote record as the decision needs it. */
export interface CurrentLink {
  localTable: string;
  localId: string;
  state: 'active' | 'inactive';
}

/** What a processed outcome does to the correlation of its source record. */
export interface CorrelationStep {
  /** Link the source record to `outcome.local` (replacing older links of either record). */
  link: boolean;
  /** Queue this reply to the remote, in the same transaction as the link. */
  reply?: MessageDraft;
  /** Mark the correlation inactive. */
  deactivate: boolean;
}

/**
 * A processed message's effect on its correlation: linked when it names a local record
 * and the link is new or changed (a reply, if any, then tells the remote); marked
 * inactive when the record was deleted. `current` is the link as it is now, after the
 * outcomes before this one.
 */
export function correlationStep(current: CurrentLink | undefined, o: InboundOutcome): CorrelationStep {
  const changed = o.local !== undefined && (!current || current.localTable !== o.local.table || current.localId !== o.local.id || current.state !== 'active');
  const link = changed && !o.deactivate;
  return { link, reply: link ? o.reply : undefined, deactivate: o.deactivate === true };
}

/** A record of one side of a link. */
export interface RecordKey {
  table: string;
  id: string;
}

/** One processed message as the correlation plan needs it: its outcome, its source record, and that record's link as read before the batch. */
export interface ProcessedMessage {
  outcome: InboundOutcome;
  remoteSystem: string;
  source: RecordKey;
  current: CurrentLink | undefined;
}

export type CorrelationWrite =
  | { kind: 'link'; remoteSystem: string; local: RecordKey; source: RecordKey }
  | { kind: 'deactivate'; remoteSystem: string; source: RecordKey };

export interface CorrelationPlan {
  /** In order: each as if the ones before it were applied. */
  writes: CorrelationWrite[];
  /** Correlation replies to queue, in order, each with the outcome that made it. */
  replies: { remoteSystem: string; message: MessageDraft; outcome: InboundOutcome }[];
}

/**
 * The correlation steps of a batch of processed messages, in order, from the links read
 * once before the batch: an outcome sees the links of the ones before it (a link takes
 * the place of every older link of either of its records; a deactivation marks its
 * source's link inactive), so a store reads the links in one statement, not one per message.
 */
export function planCorrelations(processed: readonly ProcessedMessage[]): CorrelationPlan {
  const key = (remote: string, r: RecordKey): string => JSON.stringify([remote, r.table, r.id]);
  // The link of each source record of the batch, as the writes so far leave it.
  const links = new Map<string, { remoteSystem: string; link: CurrentLink | undefined }>();
  for (const p of processed) {
    const k = key(p.remoteSystem, p.source);
    if (!links.has(k)) links.set(k, { remoteSystem: p.remoteSystem, link: p.current });
  }
  const plan: CorrelationPlan = { writes: [], replies: [] };
  for (const p of processed) {
    const k = key(p.remoteSystem, p.source);
    const step = correlationStep(links.get(k)?.link, p.outcome);
    if (step.link && p.outcome.local) {
      const local = p.outcome.local;
      for (const entry of links.values()) {
        if (entry.remoteSystem === p.remoteSystem && entry.link?.localTable === local.table && entry.link.localId === local.id) entry.link = undefined;
      }
      links.set(k, { remoteSystem: p.remoteSystem, link: { localTable: local.table, localId: local.id, state: 'active' } });
      plan.writes.push({ kind: 'link', remoteSystem: p.remoteSystem, local, source: p.source });
    }
    if (step.reply) plan.replies.push({ remoteSystem: p.remoteSystem, message: step.reply, outcome: p.outcome });
    if (step.deactivate) {
      const entry = links.get(k);
      if (entry?.link) entry.link = { ...entry.link, state: 'inactive' };
      plan.writes.push({ kind: 'deactivate', remoteSystem: p.remoteSystem, source: p.source });
    }
  }
  return plan;
}

/** The results of a finish, per outcome in order: `replied` where the outcome's correlation reply was queued. */
export function finishResults(outcomes: readonly InboundOutcome[], results: readonly FinishResult[], links: CorrelationPlan): FinishResult[] {
  const replied = new Set(links.replies.map((r) => r.outcome));
  return results.map((r, n) => (r === 'finished' && replied.has(outcomes[n]) ? 'replied' : r));
}

/** A link between a local record and a remote record, of one remote system. */
export interface LinkPair {
  remoteSystem: string;
  local: RecordKey;
  source: RecordKey;
}

/**
 * The net effect of a batch of correlation writes, for a store to apply in three steps
 * whatever the batch size, in this order:
 * 1. `deactivations`: the stored link of each of these remote records (if any) is marked
 *    inactive (those deactivated while no link written by the batch stood for them);
 * 2. `cleared`: every stored link of either record of each pair is removed (a link takes
 *    the place of the older links of its two records);
 * 3. `links`: written, with their state: the batch's links that stand at its end. A link
 *    keeps the creation time of the removed link of its local record, if there was one.
 */
export interface CorrelationChanges {
  deactivations: { remoteSystem: string; source: RecordKey }[];
  cleared: LinkPair[];
  links: (LinkPair & { state: 'active' | 'inactive' })[];
}

/**
 * Folds writes made in order into their net effect (see CorrelationChanges): the same
 * links in the end as applying them one by one, in a fixed number of statements.
 */
export function netCorrelationChanges(writes: readonly CorrelationWrite[]): CorrelationChanges {
  const key = (remote: string, r: RecordKey): string => JSON.stringify([remote, r.table, r.id]);
  const changes: CorrelationChanges = { deactivations: [], cleared: [], links: [] };
  // The batch's links that stand so far, by either record.
  const byLocal = new Map<string, LinkPair & { state: 'active' | 'inactive' }>();
  const bySource = new Map<string, LinkPair & { state: 'active' | 'inactive' }>();
  for (const w of writes) {
    const source = key(w.remoteSystem, w.source);
    if (w.kind === 'deactivate') {
      const standing = bySource.get(source);
      if (standing) standing.state = 'inactive';
      else changes.deactivations.push({ remoteSystem: w.remoteSystem, source: w.source });
      continue;
    }
    const pair: LinkPair = { remoteSystem: w.remoteSystem, local: w.local, source: w.source };
    changes.cleared.push(pair);
    const local = key(w.remoteSystem, w.local);
    for (const old of [byLocal.get(local), bySource.get(source)]) {
      if (!old) continue;
      byLocal.delete(key(old.remoteSystem, old.local));
      bySource.delete(key(old.remoteSystem, old.source));
    }
    const link = { ...pair, state: 'active' as const };
    byLocal.set(local, link);
    bySource.set(source, link);
  }
  changes.links = [...byLocal.values()];
  return changes;
}

/**
 * The reason recorded on a message skipped as stale (its sequence at or below the one
 * applied), in parts: a store that builds it in SQL joins the parts with the sequence
 * and the cursor, so the words live here only.
 */
export const STALE_REASON = ['stale: sequence ', ' is at or below ', ', already applied'] as const;

export function staleReason(sequence: number, applied: number): string {
  return `${STALE_REASON[0]}${sequence}${STALE_REASON[1]}${applied}${STALE_REASON[2]}`;
}
