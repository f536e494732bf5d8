/**
 * The rules of attachment sync, without I/O (the first step of issue 16; the transfer,
 * the store's staging and the node come next):
 *
 * - **Synthetic keys.** Each attachment in a message carries a key the receiver hands back
 *   when it asks for the file. The key is the attachment's claims (remote system, record,
 *   attachment, expiry) sealed with AES-256-GCM under a secret of the sending store, with
 *   the remote system's link key as additional data: it cannot be forged or altered, does
 *   not open for another remote system, and names exactly one attachment of one record
 *   until it expires. The receiver cannot read it (it is opaque to everyone but its maker).
 * - **File names** from a remote are made safe to store: no path, no control character, no
 *   name a file system reserves, not too long; or refused with a reason.
 * - **Which attachments** a message sends (all, or only what changed since the last sync to
 *   that remote, with removals as an option), which a receiver asks for (those whose hash
 *   and name it does not have), and which a capture's limits keep back (size, extension).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { AttachmentMeta } from './protocol';

const KEY_PREFIX = 'rps-ak:1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** What a synthetic key names. */
export interface AttachmentClaims {
  /** The record's table and id on the sending side. */
  table: string;
  recordId: string;
  /** The attachment's id on the sending side (the flow's, or its storage key). */
  attachmentId: string;
  /**
   * The SHA-256 of the content the key was made for: staged content is kept by its hash,
   * so a key names exactly those bytes, even after the record's attachment has changed.
   */
  hash: string;
  /** Epoch ms after which the key opens no more. */
  expiresAt: number;
}

/** Why a key was refused: `malformed` (not a key of ours), `forged` (altered, made with another secret, or for another remote system), `expired`. */
export type KeyRefusal = 'malformed' | 'forged' | 'expired';

export type OpenedKey = { ok: true; claims: AttachmentClaims } | { ok: false; reason: KeyRefusal };

function aad(remoteSystem: string): Buffer {
  return Buffer.from(`${KEY_PREFIX}${remoteSystem}`, 'utf8');
}

function checkSecret(secret: Buffer): void {
  if (secret.length !== 32) throw new Error('an attachment key secret has 32 bytes');
}

/** A new secret for a store's attachment keys. */
export function newAttachmentSecret(): Buffer {
  return randomBytes(32);
}

/** The synthetic key of one attachment, for one remote system (its link key). */
export function attachmentKey(secret: Buffer, remoteSystem: string, claims: AttachmentClaims): string {
  checkSecret(secret);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', secret, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(remoteSystem));
  const body = JSON.stringify([claims.table, claims.recordId, claims.attachmentId, claims.hash, claims.expiresAt]);
  const ciphertext = Buffer.concat([cipher.update(body, 'utf8'), cipher.final()]);
  return `${KEY_PREFIX}${Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64url')}`;
}

/**
 * Opens a key that remote system `remoteSystem` handed back: its claims, or why it is
 * refused. The caller still checks that the claims name the record the request is for.
 */
export function openAttachmentKey(secret: Buffer, remoteSystem: string, key: string, now: number): OpenedKey {
  checkSecret(secret);
  if (typeof key !== 'string' || !key.startsWith(KEY_PREFIX) || key.length > 4096) return { ok: false, reason: 'malformed' };
  const text = key.slice(KEY_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return { ok: false, reason: 'malformed' };
  const raw = Buffer.from(text, 'base64url');
  if (raw.length <= IV_BYTES + TAG_BYTES) return { ok: false, reason: 'malformed' };
  let body: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(remoteSystem));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    body = Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    // The tag does not match: altered, another secret, or another remote system's key.
    return { ok: false, reason: 'forged' };
  }
  // Authenticated, so ours; a shape from another version of the format is not a key of this one.
  const parsed = JSON.parse(body) as unknown;
  if (!Array.isArray(parsed) || parsed.length !== 5 || typeof parsed[4] !== 'number') return { ok: false, reason: 'malformed' };
  const claims: AttachmentClaims = { table: parsed[0], recordId: parsed[1], attachmentId: parsed[2], hash: parsed[3], expiresAt: parsed[4] };
  if (!(now <= claims.expiresAt)) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}

/** Why a file name from a remote cannot be stored. */
export type NameRefusal = 'empty' | 'control-character' | 'too-long';

export type SafeName = { ok: true; name: string } | { ok: false; reason: NameRefusal };

/** Longest name kept, in UTF-8 bytes (what common file systems allow). */
export const MAX_NAME_BYTES = 255;

/** Names Windows reserves for devices, with or without an extension. */
const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A file name from a remote, made safe to store in a folder of ours: path separators and
 * characters file systems refuse become `_`, so `../../etc/passwd` is the one name
 * `.._.._etc_passwd` with its leading dots dropped; leading and trailing dots and spaces
 * go; a reserved device name gets a `_` in front. A name with a control character
 * (a NUL ends a C string early) is refused rather than guessed at, and so are an empty
 * name and one longer than MAX_NAME_BYTES.
 */
export function safeFileName(name: string): SafeName {
  if (typeof name !== 'string') return { ok: false, reason: 'empty' };
  if (CONTROL.test(name)) return { ok: false, reason: 'control-character' };
  let safe = name
    .normalize('NFC')
    .replace(/[/\\:<>"|?*]/g, '_')
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  if (safe === '') return { ok: false, reason: 'empty' };
  if (RESERVED.test(safe)) safe = `_${safe}`;
  if (Buffer.byteLength(safe, 'utf8') > MAX_NAME_BYTES) return { ok: false, reason: 'too-long' };
  return { ok: true, name: safe };
}

/** What a capture lets through: files up to `maxBytes` (0: any size), with one of `extensions` (empty: any). */
export interface AttachmentLimits {
  maxBytes: number;
  /** Lower case, without the dot. */
  extensions: readonly string[];
}

/** `name`: empty, or longer than a message may carry (MAX_SENT_NAME_CHARS). */
export type LimitRefusal = 'too-large' | 'extension' | 'name';

/** The longest file name a message carries (the protocol's longest id). */
export const MAX_SENT_NAME_CHARS = 256;

/** Why an attachment is kept back (recorded and reported, never sent), or undefined when it may go. */
export function limitRefusal(meta: Pick<AttachmentMeta, 'fileName' | 'size'>, limits: AttachmentLimits): LimitRefusal | undefined {
  if (meta.fileName.length === 0 || meta.fileName.length > MAX_SENT_NAME_CHARS) return 'name';
  if (limits.maxBytes > 0 && meta.size > limits.maxBytes) return 'too-large';
  if (limits.extensions.length > 0) {
    const dot = meta.fileName.lastIndexOf('.');
    const ext = dot > 0 ? meta.fileName.slice(dot + 1).toLowerCase() : '';
    if (!limits.extensions.includes(ext)) return 'extension';
  }
  return undefined;
}

/** An attachment of a local record, as the flow describes it. */
export interface LocalAttachment {
  id: string;
  hash: string;
  fileName: string;
}

/** `all`: every attachment in every message; `deltas`: only those new or changed since the last sync to that remote. */
export type AttachmentStrategy = 'all' | 'deltas';

export interface AttachmentPlan<A extends LocalAttachment> {
  /** To send (their metadata goes in the message). */
  send: A[];
  /** Ids of attachments the remote has from us that the record no longer has (only with removals on). */
  removed: string[];
}

/** What a remote was last given of one attachment: a renamed file counts as changed, as the receiver compares names too. */
export interface SentVersion {
  hash: string;
  fileName: string;
}

/**
 * Which attachments of a record a message carries: `current` are the record's now, `sent`
 * what the remote was last given (by attachment id). A record's first sync sends all
 * of them whatever the strategy (RPS's rule), since the remote has none.
 */
export function planAttachments<A extends LocalAttachment>(
  strategy: AttachmentStrategy,
  current: readonly A[],
  sent: ReadonlyMap<string, SentVersion>,
  removals: boolean,
): AttachmentPlan<A> {
  const changed = (a: A): boolean => {
    const last = sent.get(a.id);
    return last === undefined || last.hash !== a.hash || last.fileName !== a.fileName;
  };
  const send = strategy === 'all' || sent.size === 0 ? [...current] : current.filter(changed);
  const ids = new Set(current.map((a) => a.id));
  const removed = removals ? [...sent.keys()].filter((id) => !ids.has(id)) : [];
  return { send, removed };
}

/** How a receiver tells files apart: content and (safe) name together. */
export function fileIdentity(f: { hash: string; fileName: string }): string {
  return `${f.hash}\u0000${f.fileName}`;
}

/**
 * Which attachments of a message a receiver asks for: those whose hash and (safe) file
 * name it does not have on the target record yet. The same content under another name
 * is asked for again (the name is part of what the record shows); two entries with the
 * same hash and name are asked for once.
 */
export function attachmentsToFetch(incoming: readonly AttachmentMeta[], have: readonly { hash: string; fileName: string }[]): AttachmentMeta[] {
  const held = new Set(have.map(fileIdentity));
  const out: AttachmentMeta[] = [];
  for (const a of incoming) {
    // Compared as it would be stored: the name made safe (a refused name is fetched to be refused with its reason).
    const safe = safeFileName(a.fileName);
    const k = fileIdentity({ hash: a.hash, fileName: safe.ok ? safe.name : a.fileName });
    if (held.has(k)) continue;
    held.add(k);
    out.push(a);
  }
  return out;
}
