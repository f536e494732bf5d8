/**
 * What one capture remembers of each record between its changes: the fields its
 * "changes…" rules compare, as the capture last saw them (core's `keptFields`), for the
 * changes whose source does not say what the record was before (no msg.previous).
 *
 * Kept in the store (capture-states), so that it survives a restart, and in memory for
 * the records seen lately. Changes are decided one after another in the order they
 * came (`inTurn`): a change waits for the decision before it, because that decision is
 * what it compares with. Reads of the store for several changes go together in one
 * call (Batcher), as do the writes.
 *
 * A write is not waited for: the change goes on at once. When the process dies before
 * it is written, the next change of that record compares with what was kept before, so
 * a "changes to" change may be sent a second time, never lost.
 */
import type { Fields } from '../core/protocol';
import { Batcher } from './batcher';
import type { CaptureStates, CaptureStateWrite } from './stores';

/** Records kept in the store per capture; the least recently changed go beyond it. */
export const MAX_KEPT_RECORDS = 100_000;
/** Records kept in memory per capture (the store answers for the others). */
export const MAX_REMEMBERED = 10_000;
/** The store is pruned to MAX_KEPT_RECORDS after this many writes. */
const PRUNE_EVERY = 1_000;

export interface CaptureMemoryOptions {
  maxKept?: number;
  maxRemembered?: number;
  /**
   * Other processes write the same states (a PostgreSQL store shared by several Node-RED
   * processes with the same flows): every decision reads the store, and memory counts
   * only for this process's own writes that the read could not have seen yet.
   */
  shared?: boolean;
  /** A write or prune that failed (the store is down): the capture goes on, the state is older. */
  onError(err: unknown): void;
  now?: () => number;
}

export class CaptureMemory {
  /** Recently seen states, least recently used first (Map order); null: forgotten (deleted). */
  private readonly recent = new Map<string, Fields | null>();
  /** States handed to the store and not yet written: they win over what a read returns. */
  private readonly unwritten = new Map<string, Fields | null>();
  private readonly reads: Batcher<string, { state: Fields | undefined; startedAt: number }>;
  /**
   * A logical clock: ticks when a read starts and when a write commits. A read that
   * started after a record's last write committed has that write in it (or a later one,
   * of another process); one that started before does not.
   */
  private tick = 0;
  /** When each remembered record's last write committed (bounded with `recent`). */
  private readonly committedAt = new Map<string, number>();
  private readonly writes: Batcher<CaptureStateWrite, undefined>;
  private turn: Promise<void> = Promise.resolve();
  private written = 0;
  /** The last write failure reported. */
  private reported: unknown;
  private readonly maxKept: number;
  private readonly maxRemembered: number;
  private readonly now: () => number;

  constructor(
    private readonly states: CaptureStates,
    private readonly capture: string,
    private readonly table: string,
    private readonly options: CaptureMemoryOptions,
  ) {
    this.maxKept = options.maxKept ?? MAX_KEPT_RECORDS;
    this.maxRemembered = options.maxRemembered ?? MAX_REMEMBERED;
    this.now = options.now ?? Date.now;
    this.reads = new Batcher(async (ids) => {
      const startedAt = ++this.tick;
      const found = await this.states.get(this.capture, this.table, [...new Set(ids)]);
      return ids.map((id) => ({ state: found.get(id), startedAt }));
    }, 500);
    this.writes = new Batcher(async (batch) => {
      await this.states.put(this.capture, this.table, batch, this.now());
      for (const w of batch) {
        if (this.recent.has(w.id)) this.committedAt.set(w.id, ++this.tick);
        if (this.unwritten.get(w.id) === w.fields) this.unwritten.delete(w.id);
      }
      this.written += batch.length;
      if (this.written >= PRUNE_EVERY) {
        this.written = 0;
        // Once for the batch: a failed prune leaves more records kept, nothing wrong.
        await this.states.prune(this.capture, this.maxKept).catch((err: unknown) => this.options.onError(err));
      }
      return batch.map(() => undefined);
    }, 500);
  }

  /**
   * Runs `decide` with what was last seen of record `id` (undefined: nothing known), after
   * every decision asked for before it; `decide` returns what to remember now (undefined:
   * nothing, null: forget the record). Resolves with what `decide` returned.
   */
  inTurn<T>(id: string | undefined, decide: (lastSeen: Fields | undefined) => { result: T; seen?: Fields | null }): Promise<T> {
    // The store is asked now, with the other changes that come meanwhile (alone, the
    // store only when memory does not know the record; shared, always).
    const read = id === undefined || (!this.options.shared && this.known(id)) ? undefined : this.reads.add(id);
    read?.catch(() => undefined); // a failed read is met below, in turn
    const decided = this.turn.then(async () => {
      const stored = read ? await read : undefined;
      const { result, seen } = decide(id === undefined ? undefined : this.lastSeen(id, stored));
      if (id !== undefined && seen !== undefined) this.remember(id, seen);
      return result;
    });
    this.turn = decided.then(
      () => undefined,
      () => undefined,
    );
    return decided;
  }

  /** Resolves when every state handed over so far is written (or failed). */
  async flush(): Promise<void> {
    await this.turn;
    await this.writes.drain();
  }

  /** Forgets every record of this capture (the node was removed). */
  async clear(): Promise<void> {
    await this.flush();
    this.recent.clear();
    await this.states.clear(this.capture);
  }

  private known(id: string): boolean {
    return this.unwritten.has(id) || this.recent.has(id);
  }

  /**
   * What a decision compares with: this process's own write not yet committed; else the
   * store's answer if it was read after this process's last write of the record
   * committed (it has that write, or a later one of another process); else memory.
   */
  private lastSeen(id: string, stored: { state: Fields | undefined; startedAt: number } | undefined): Fields | undefined {
    if (this.unwritten.has(id)) return this.unwritten.get(id) ?? undefined;
    if (stored && (this.committedAt.get(id) ?? 0) < stored.startedAt) return stored.state;
    if (this.recent.has(id)) return this.recent.get(id) ?? undefined;
    return stored?.state;
  }

  private remember(id: string, seen: Fields | null): void {
    this.recent.delete(id);
    this.recent.set(id, seen);
    if (this.recent.size > this.maxRemembered) {
      const oldest = this.recent.keys().next().value as string;
      this.recent.delete(oldest);
      this.committedAt.delete(oldest);
    }
    this.unwritten.set(id, seen);
    this.writes.add({ id, fields: seen }).catch((err: unknown) => {
      if (this.unwritten.get(id) === seen) this.unwritten.delete(id);
      // Every write of a failed batch fails with the same error: reported once.
      if (err === this.reported) return;
      this.reported = err;
      this.options.onError(err);
    });
  }
}
