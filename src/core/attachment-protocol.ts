/**
 * The bodies of attachment transfer between instances (issue 16): the
 * receiver's pull request to the origin, the origin's push of a file's bytes (addressed by
 * query parameters), and the origin's completion. Types and their validation, no I/O: a
 * body that does not validate is refused whole with a 400 naming the place at fault.
 */
import { PROTOCOL } from './protocol';

/** The routes, relative to API_PREFIX. */
export const ATTACHMENT_PATHS = {
  pull: '/attachments/pull',
  content: '/attachments/content',
  complete: '/attachments/complete',
} as const;

export const MAX_PULL_FILES = 100;
export const MAX_TRANSFER_LENGTH = 200;
export const MAX_KEY_LENGTH = 4096;
/** Bounds of a completion's refusal (the origin's code and text travel to the receiver's logs). */
export const MAX_CODE_LENGTH = 100;
export const MAX_ERROR_LENGTH = 1000;

export interface PullFile {
  /** The receiver's row id of the file. */
  id: number;
  /** The origin's synthetic key, handed back as it came. */
  key: string;
  /** Bytes the receiver has already: the origin pushes from here. */
  offset: number;
}

export interface PullRequest {
  transfer: string;
  files: PullFile[];
}

export type PullRefusalCode = 'malformed' | 'forged' | 'expired' | 'gone';
export const PULL_REFUSAL_CODES: readonly PullRefusalCode[] = ['malformed', 'forged', 'expired', 'gone'];

export type PullResult = { id: number; status: 'accepted' } | { id: number; status: 'refused'; code: PullRefusalCode; error: string };

export type CompleteFile = { id: number; status: 'sent' } | { id: number; status: 'refused'; code: string; error: string };

export interface CompleteRequest {
  transfer: string;
  files: CompleteFile[];
}

export type CompleteStatus = 'verified' | 'mismatch' | 'incomplete' | 'refused' | 'unknown';
export const COMPLETE_STATUSES: readonly CompleteStatus[] = ['verified', 'mismatch', 'incomplete', 'refused', 'unknown'];

export interface CompleteResult {
  id: number;
  status: CompleteStatus;
}

/** Where a push's bytes go: the query of `PUT …/attachments/content`. */
export interface ContentAddress {
  transfer: string;
  file: number;
  offset: number;
}

/** A body or query that is not what the protocol says; `message` is `path: reason`. */
export class InvalidAttachmentBody extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'InvalidAttachmentBody';
  }
}

type Fields = Record<string, unknown>;

function invalid(path: string, reason: string): never {
  throw new InvalidAttachmentBody(path, reason);
}

function objectAt(v: unknown, path: string): Fields {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return invalid(path, 'must be an object');
  return v as Fields;
}

function textAt(v: unknown, path: string, max: number): string {
  if (typeof v !== 'string') return invalid(path, 'must be a string');
  if (v.length === 0) return invalid(path, 'must not be empty');
  if (v.length > max) return invalid(path, `longer than ${max} characters`);
  return v;
}

function countAt(v: unknown, path: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) return invalid(path, `must be an integer of ${min} or more`);
  return v;
}

const TRANSFER_PATTERN = /^[A-Za-z0-9_-]+$/;

function transferAt(v: unknown, path: string): string {
  const transfer = textAt(v, path, MAX_TRANSFER_LENGTH);
  if (!TRANSFER_PATTERN.test(transfer)) invalid(path, 'may hold only letters, digits, "_" and "-"');
  return transfer;
}

/**
 * The `files` list of a request: 1..MAX_PULL_FILES entries, ids unique (a result names
 * its file by id alone), each checked by `entry`.
 */
function filesAt<T extends { id: number }>(v: unknown, path: string, entry: (item: Fields, at: string) => T): T[] {
  if (!Array.isArray(v)) return invalid(path, 'must be an array');
  if (v.length === 0) invalid(path, 'must not be empty');
  if (v.length > MAX_PULL_FILES) invalid(path, `more than ${MAX_PULL_FILES} files`);
  const seen = new Set<number>();
  return v.map((item, i) => {
    const at = `${path}[${i}]`;
    const file = entry(objectAt(item, at), at);
    if (seen.has(file.id)) invalid(`${at}.id`, 'appears twice in the request');
    seen.add(file.id);
    return file;
  });
}

/** The envelope common to both bodies: the protocol and the transfer id. */
function headerOf(body: unknown): { fields: Fields; transfer: string } {
  const fields = objectAt(body, 'body');
  if (fields.protocol !== PROTOCOL) invalid('protocol', `must be "${PROTOCOL}"`);
  return { fields, transfer: transferAt(fields.transfer, 'transfer') };
}

/** A `POST /rps/v1/attachments/pull` body; the result is a clean copy. Throws InvalidAttachmentBody. */
export function validatePullRequest(body: unknown): PullRequest {
  const { fields, transfer } = headerOf(body);
  const files = filesAt(fields.files, 'files', (item, at) => ({
    id: countAt(item.id, `${at}.id`, 1),
    key: textAt(item.key, `${at}.key`, MAX_KEY_LENGTH),
    offset: countAt(item.offset, `${at}.offset`, 0),
  }));
  return { transfer, files };
}

function completeFileAt(item: Fields, at: string): CompleteFile {
  const id = countAt(item.id, `${at}.id`, 1);
  if (item.status === 'sent') return { id, status: 'sent' };
  if (item.status !== 'refused') return invalid(`${at}.status`, 'must be "sent" or "refused"');
  return { id, status: 'refused', code: textAt(item.code, `${at}.code`, MAX_CODE_LENGTH), error: textAt(item.error, `${at}.error`, MAX_ERROR_LENGTH) };
}

/** A `POST /rps/v1/attachments/complete` body; the result is a clean copy. Throws InvalidAttachmentBody. */
export function validateCompleteRequest(body: unknown): CompleteRequest {
  const { fields, transfer } = headerOf(body);
  return { transfer, files: filesAt(fields.files, 'files', completeFileAt) };
}

/** A non-negative decimal integer as a query parameter carries it (no sign, no exponent, no fraction). */
function queryCount(params: URLSearchParams, name: string, min: number): number {
  const text = params.get(name);
  if (text === null) return invalid(name, 'is missing');
  if (!/^\d{1,16}$/.test(text)) return invalid(name, 'must be a decimal integer');
  return countAt(Number(text), name, min);
}

/** The address of a push, from the request's query string (with or without its leading "?"). Throws InvalidAttachmentBody. */
export function parseContentQuery(query: string): ContentAddress {
  const params = new URLSearchParams(query);
  for (const name of ['transfer', 'file', 'offset']) {
    if (params.getAll(name).length > 1) invalid(name, 'given more than once');
  }
  const transfer = params.get('transfer');
  if (transfer === null) return invalid('transfer', 'is missing');
  return { transfer: transferAt(transfer, 'transfer'), file: queryCount(params, 'file', 1), offset: queryCount(params, 'offset', 0) };
}

/** The query string (without "?") that parseContentQuery reads back. */
export function contentQuery(address: ContentAddress): string {
  return new URLSearchParams({ transfer: address.transfer, file: String(address.file), offset: String(address.offset) }).toString();
}

/** Whether `results` answers exactly the files `ids`, once each, in any order. */
function answersEach(results: readonly { id: number }[], ids: readonly number[]): boolean {
  const asked = new Set(ids);
  const answered = new Set(results.map((r) => r.id));
  return results.length === ids.length && answered.size === ids.length && [...answered].every((id) => asked.has(id));
}

function isEntry(r: unknown): r is Fields & { id: number } {
  return typeof r === 'object' && r !== null && typeof (r as Fields).id === 'number';
}

function isPullResult(r: unknown): r is PullResult {
  if (!isEntry(r)) return false;
  if (r.status === 'accepted') return true;
  return r.status === 'refused' && (PULL_REFUSAL_CODES as readonly unknown[]).includes(r.code) && typeof r.error === 'string';
}

/**
 * The origin's answer to a pull request, as the receiver checks it: `{results}` with one
 * result per file asked for. Clean copies; undefined when the answer is not that.
 */
export function pullResultsOf(answer: unknown, ids: readonly number[]): PullResult[] | undefined {
  const results = (answer as { results?: unknown } | null | undefined)?.results;
  if (!Array.isArray(results) || !results.every(isPullResult) || !answersEach(results, ids)) return undefined;
  return results.map((r) => (r.status === 'accepted' ? { id: r.id, status: 'accepted' } : { id: r.id, status: 'refused', code: r.code, error: r.error.slice(0, MAX_ERROR_LENGTH) }));
}

/** The receiver's answer to a completion, as the origin checks it (see pullResultsOf). */
export function completeResultsOf(answer: unknown, ids: readonly number[]): CompleteResult[] | undefined {
  const results = (answer as { results?: unknown } | null | undefined)?.results;
  const valid = (r: unknown): r is CompleteResult => isEntry(r) && (COMPLETE_STATUSES as readonly unknown[]).includes(r.status);
  if (!Array.isArray(results) || !results.every(valid) || !answersEach(results, ids)) return undefined;
  return results.map((r) => ({ id: r.id, status: r.status }));
}
