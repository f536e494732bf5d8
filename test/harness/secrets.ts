/**
 * Looking for secrets at rest as someone with a copy of a store would: the raw bytes of
 * a SQLite store (its file and its write-ahead log) or a pg_dump of a PostgreSQL schema.
 * The tests know each Node-RED's credential secret, so they can open the sealed values
 * and learn which tokens and keys to look for.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { deriveSealKey, isSealed, unseal } from '../../src/core/seal';
import { DEFAULT_STORE_FILE } from '../../src/nodes/runtime';
import { TEST_PG_URL } from '../../tools/pg';

/** A value of a store, as stored (sealed or not); undefined when there is none. */
export function sqliteValue(userDir: string, name: string): string | undefined {
  const db = new Database(join(userDir, DEFAULT_STORE_FILE), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT value FROM rps_value WHERE key = ?').get(name) as { value: string } | undefined)?.value;
  } finally {
    db.close();
  }
}

/** Opens a stored value with the credential secret; fails unless it is sealed and opens. */
export async function openSealed(credentialSecret: string, name: string, text: string | undefined): Promise<string> {
  assert.ok(text !== undefined, `the store holds ${name}`);
  assert.ok(isSealed(text), `${name} is stored sealed, not in clear`);
  const value = unseal(await deriveSealKey(credentialSecret), name, text);
  assert.ok(value !== undefined, `${name} opens with the credential secret`);
  return value;
}

/** Whether a stored value opens with this credential secret. */
export async function opensWith(credentialSecret: string, name: string, text: string): Promise<boolean> {
  return unseal(await deriveSealKey(credentialSecret), name, text) !== undefined;
}

/** The OAuth2 token a remote system holds, as the token source keeps it. */
export interface HeldToken {
  accessToken: string;
  refreshToken?: string;
}

export function heldToken(text: string): HeldToken {
  const held = JSON.parse(text) as Partial<HeldToken>;
  assert.equal(typeof held.accessToken, 'string');
  return held as HeldToken;
}

/** Every byte of a SQLite store on disk: the database file and, when there is one, its write-ahead log. */
export function sqliteFiles(userDir: string): { files: string[]; bytes: Buffer } {
  const path = join(userDir, DEFAULT_STORE_FILE);
  const files = [path, `${path}-wal`].filter((f) => existsSync(f));
  return { files, bytes: Buffer.concat(files.map((f) => readFileSync(f))) };
}

/** pg_dump (on PATH, else PostgreSQL's bin directory) of one schema, data and all, as plain SQL. */
export async function pgDump(schema: string): Promise<Buffer> {
  const candidates = ['pg_dump', ...(existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').map((v) => `/usr/lib/postgresql/${v}/bin/pg_dump`) : [])];
  let lastError: Error | undefined;
  for (const bin of candidates) {
    try {
      return await run(bin, [TEST_PG_URL, `--schema=${schema}`, '--no-owner']);
    } catch (err) {
      lastError = err as Error;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  throw new Error(`pg_dump not found (${lastError?.message}): install the PostgreSQL client`);
}

function run(bin: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${bin} exited ${code}: ${Buffer.concat(err).toString('utf8')}`))));
  });
}

/**
 * Pieces of base64 that any base64 text containing `secret` contains, whatever the
 * alignment (an Authorization header, a base64-encoded body, a JWT).
 */
export function base64Fragments(secret: string | Buffer): string[] {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  const out: string[] = [];
  for (const k of [0, 1, 2]) {
    for (const alphabet of ['base64', 'base64url'] as const) {
      const b = Buffer.concat([Buffer.alloc(k, 0x20), bytes]).toString(alphabet).replace(/=+$/, '');
      const fragment = b.slice(k === 0 ? 0 : 4, b.length - 4);
      if (fragment.length >= 12) out.push(fragment);
    }
  }
  return out;
}

/** What is looked for, and what to call it when found. */
export interface ByteNeedle {
  name: string;
  bytes: Buffer;
}

/** A token (or any secret text) as text, in hex and in base64; a JWT by its signature too (any copy of the token has it). */
export function textNeedles(name: string, text: string): ByteNeedle[] {
  const parts = text.split('.');
  const forms: [string, string][] = [
    [name, text],
    [`${name} (hex)`, Buffer.from(text, 'utf8').toString('hex')],
    ...base64Fragments(text).map((f): [string, string] => [`${name} (in base64)`, f]),
    ...(parts.length === 3 ? [[`${name} (its signature)`, parts[2]] as [string, string]] : []),
  ];
  return forms.map(([n, t]) => ({ name: n, bytes: Buffer.from(t, 'utf8') }));
}

/** A 32-byte key kept as base64url text: that text, the raw bytes, and their hex and base64 forms. */
export function keyNeedles(name: string, base64url: string): ByteNeedle[] {
  const raw = Buffer.from(base64url, 'base64url');
  assert.equal(raw.length, 32, `${name} is a 32-byte key`);
  return [
    ...textNeedles(name, base64url),
    { name: `${name} (raw bytes)`, bytes: raw },
    { name: `${name} (hex of the bytes)`, bytes: Buffer.from(raw.toString('hex'), 'utf8') },
    ...base64Fragments(raw).map((f) => ({ name: `${name} (bytes in base64)`, bytes: Buffer.from(f, 'utf8') })),
  ];
}

/** The names of the needles found in `haystack`. */
export function foundIn(haystack: Buffer, needles: readonly ByteNeedle[]): string[] {
  return needles.filter((n) => haystack.includes(n.bytes)).map((n) => n.name);
}
