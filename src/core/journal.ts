/**
 * Journal fields (comments, work notes): lists of entries that are appended to, never
 * edited. A record change carries each journal field as a list; every entry is sent to
 * each remote once. Pure.
 *
 * The rule that turns a source's list into entries (rps-capture's help says the same):
 * - an entry is an object or a text; a text is an entry with that value;
 * - its value is `value` (or `text`), its author `author` (or `createdBy`, `created_by`),
 *   its time `createdAt` (or `created_at`, `created_on`; a Date or a text), all optional
 *   but the value; an entry without a value is refused;
 * - its id is `id` (or `sys_id`) when the source gives one; otherwise it is made from the
 *   field, value, author and time, so that the same entry read again has the same id.
 *   Keep the id with an entry an inbound flow writes (msg.rps.journal[].id): it is how
 *   that entry is known when the record is captured again, and not sent back.
 */
import { createHash } from 'node:crypto';
import type { JournalEntry, MessageDraft } from './protocol';
import { ValueError } from './values';

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (v instanceof Date && !Number.isNaN(v.getTime())) return v.toISOString();
  return undefined;
}

function first(o: Record<string, unknown>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const v = text(o[name]);
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

/** The id of an entry the source gave none: the same entry always gets the same one. */
export function journalEntryId(field: string, value: string, author: string, createdAt: string): string {
  return `h:${createHash('sha256').update(JSON.stringify([field, value, author, createdAt])).digest('hex').slice(0, 32)}`;
}

/** One source entry of journal field `field` as the protocol carries it. */
export function journalEntry(field: string, raw: unknown, path: string): JournalEntry {
  const o: Record<string, unknown> = typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !(raw instanceof Date) ? (raw as Record<string, unknown>) : { value: raw };
  const value = first(o, ['value', 'text']);
  if (value === undefined) throw new ValueError(path, 'is a journal entry without a value');
  const author = first(o, ['author', 'createdBy', 'created_by']) ?? '';
  const createdAt = first(o, ['createdAt', 'created_at', 'created_on']) ?? '';
  const id = first(o, ['id', 'sys_id']) ?? journalEntryId(field, value, author, createdAt);
  return { field, id, value, author, createdAt };
}

/**
 * The entries of the journal fields `fields` of a record (in field order, each list in
 * its order). A field that is missing or null has none; a single entry needs no list.
 */
export function journalOf(record: Readonly<Record<string, unknown>>, fields: readonly string[]): JournalEntry[] {
  const out: JournalEntry[] = [];
  for (const field of fields) {
    if (!Object.prototype.hasOwnProperty.call(record, field)) continue;
    const raw = record[field];
    if (raw === undefined || raw === null) continue;
    const list = Array.isArray(raw) ? raw : [raw];
    list.forEach((entry, i) => out.push(journalEntry(field, entry, `${field}[${i}]`)));
  }
  return out;
}

/** A message queued for one remote, as the journal rule sees it. */
export interface JournalItem {
  remoteSystem: string;
  message: MessageDraft;
  /** The change is only its journal entries: with none left to send, it is not sent. */
  journalOnly?: boolean;
}

/** The key of a mark: a remote system and an entry id. */
export function markKey(remoteSystem: string, entryId: string): string {
  return `${remoteSystem}\u0000${entryId}`;
}

/**
 * Which entries each message of a batch carries: those whose mark for the message's
 * remote was new (`fresh`: written in this transaction), each by the first message of
 * the batch that has it. A journal-only change with no entry left is not sent
 * (undefined). The stores write the marks and queue what this gives, in one transaction.
 */
export function journalsToSend(items: readonly JournalItem[], fresh: ReadonlySet<string>): (MessageDraft | undefined)[] {
  const left = new Set(fresh);
  return items.map((item) => {
    if (item.message.journal.length === 0) return item.message;
    const journal = item.message.journal.filter((e) => left.delete(markKey(item.remoteSystem, e.id)));
    if (journal.length === 0 && item.journalOnly) return undefined;
    return journal.length === item.message.journal.length ? item.message : { ...item.message, journal };
  });
}

/** The marks a batch asks for: every entry of every message, for the message's remote. */
export function journalMarksOf(items: readonly JournalItem[]): { remoteSystem: string; entryId: string }[] {
  return items.flatMap((item) => item.message.journal.map((e) => ({ remoteSystem: item.remoteSystem, entryId: e.id })));
}

/**
 * The received messages as the inbound flow gets them: each journal entry is taken in
 * only the first time this instance sees its id (not `seen` before, from any remote, nor
 * earlier in the batch). So an entry that comes back where it started, or reaches an
 * instance by two ways, is appended once. The stores mark the entries taken, for the
 * remote they came from, in the transaction that accepts the messages.
 */
export function journalsReceived<M extends { journal: JournalEntry[] }>(messages: readonly M[], seen: ReadonlySet<string>): M[] {
  const taken = new Set(seen);
  return messages.map((m) => {
    if (m.journal.length === 0) return m;
    const journal = m.journal.filter((e) => !taken.has(e.id) && (taken.add(e.id), true));
    return journal.length === m.journal.length ? m : { ...m, journal };
  });
}
