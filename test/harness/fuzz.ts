/**
 * A seeded generator of bad requests for the rps/1 endpoints (`POST /rps/v1/messages`,
 * `POST /rps/v1/token`) and a small runner that sends them and checks every answer.
 *
 * Every request is a pure function of (seed, index, context): `caseRng(seed, i)` gives
 * request i its own PRNG, so a failing request can be made again with the same seed
 * whatever the concurrency. Each generated request is bad in at least one way that
 * the receiver must refuse (a wrong type, a missing field, a limit exceeded, bad
 * bytes, bad credentials...), and carries the statuses that would be right for it.
 */
import { createHmac, createPublicKey, type KeyObject, sign as cryptoSign, constants } from 'node:crypto';
import http from 'node:http';

// ---------------------------------------------------------------------------------------------
// PRNG

/** mulberry32: small, fast, good enough for test data, and reproducible from a 32-bit seed. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }

  /** `n` characters from `alphabet` (a string of single code points, or an array of strings). */
  text(n: number, alphabet: string | readonly string[] = ASCII): string {
    const chars = typeof alphabet === 'string' ? [...alphabet] : alphabet;
    let out = '';
    for (let i = 0; i < n; i++) out += chars[Math.floor(this.next() * chars.length)];
    return out;
  }

  hex(n: number): string {
    return this.text(n, '0123456789abcdef');
  }
}

/** The seed of request `index` of a run with `seed`. */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export function caseRng(seed: number, index: number): Rng {
  return new Rng(caseSeed(seed, index));
}

const ASCII = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:/';
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
const UNICODE = ['a', 'é', 'ß', '中', '文', '😀', '\u0000', '\u001f', '"', '\\', '\n', '\u2028', '\ufeff', '\ud800', 'Ω', '\u0301', ' '];
/** Characters a header value may carry (Node refuses control characters other than tab). */
const HEADER_CHARS = [...PRINTABLE, '\t', 'é', 'ÿ', '\u00a0', '\u0080'];
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// ---------------------------------------------------------------------------------------------
// Raw JSON text inside a generated value (numbers JSON.stringify cannot write, deep nesting
// that would overflow our own stack, invalid bytes).

export class Raw {
  constructor(readonly text: string | Buffer) {}
}

/** JSON text of `value` with every Raw spliced in as it is. */
export function serialize(value: unknown): Buffer {
  const raws: (string | Buffer)[] = [];
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Raw) {
      raws.push(v.text);
      return `@@RAW${raws.length - 1}@@`;
    }
    return v;
  });
  if (raws.length === 0) return Buffer.from(json, 'utf8');
  const parts: Buffer[] = [];
  const re = /"@@RAW(\d+)@@"/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(json)) !== null) {
    parts.push(Buffer.from(json.slice(last, m.index), 'utf8'));
    const raw = raws[Number(m[1])];
    parts.push(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(json.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

/** Sets an own property, even "__proto__". */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function nestedArrays(depth: number, inner = ''): Raw {
  return new Raw('['.repeat(depth) + inner + ']'.repeat(depth));
}

function nestedObjects(depth: number, key = 'a', inner = '1'): Raw {
  return new Raw(`{"${key}":`.repeat(depth) + inner + '}'.repeat(depth));
}

function nestedMixed(depth: number): Raw {
  let open = '';
  let close = '';
  for (let i = 0; i < depth; i++) {
    if (i % 2 === 0) {
      open += '[';
      close = ']' + close;
    } else {
      open += '{"k":';
      close = '}' + close;
    }
  }
  return new Raw(open + 'null' + close);
}

// ---------------------------------------------------------------------------------------------
// JWS

export function b64url(x: Buffer | string): string {
  return Buffer.from(x).toString('base64url');
}

function part(value: unknown): string {
  return b64url(JSON.stringify(value));
}

export type Signer = (signingInput: string) => Buffer;

export const signers = {
  none: (): Buffer => Buffer.alloc(0),
  hs256: (key: Buffer | string): Signer => (input) => createHmac('sha256', key).update(input).digest(),
  hs512: (key: Buffer | string): Signer => (input) => createHmac('sha512', key).update(input).digest(),
  rs256: (key: KeyObject): Signer => (input) => cryptoSign('sha256', Buffer.from(input), key),
  ps256: (key: KeyObject): Signer => (input) =>
    cryptoSign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }),
  es256: (key: KeyObject): Signer => (input) => cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }),
};

export function jws(header: Record<string, unknown>, claims: Record<string, unknown>, signer: Signer): string {
  const input = `${part(header)}.${part(claims)}`;
  return `${input}.${b64url(signer(input))}`;
}

export function decodeClaims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function decodeHeader(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')) as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// What the generator knows about the instance under test

export interface FuzzContext {
  processEvent: string;
  /** maxBody of every remote system, in bytes. */
  maxBodyBytes: number;
  /** Node-RED's admin API body limit (apiMaxLength, default 5 MB). */
  adminMaxBytes: number;
  /** The API user of the remote system with basic auth and our tokens. */
  user: string;
  password: string;
  /** Its id (the `sub` of our tokens). */
  basicId: string;
  /** Ids of remote systems that have no API user (their ids as `sub` of our tokens are no good). */
  otherIds: string[];
  /** A valid access token from our /rps/v1/token, and its claims. */
  ownToken: string;
  ownClaims: Record<string, unknown>;
  /** The store's real signing key. */
  signingKey: Buffer;
  /** A valid refresh token from our /rps/v1/token (only ever presented in requests that must fail). */
  refreshToken: string;
  /** The external identity provider of the jwt remote system. */
  jwt: {
    issuer: string;
    audience: string;
    subject: string;
    clientSecret: string;
    kid: string;
    /** The provider's public key as PEM and as its JWK modulus (HMAC secrets in algorithm confusion attacks). */
    publicPem: string;
    publicN: string;
    /** A currently valid token of the provider for the jwt remote system. */
    token: () => string;
  };
  /** A real token of the same provider for a remote system that expects another audience. */
  wrongAudienceToken: () => string;
  /** A real token, right client and audience, from another provider. */
  foreignIssuerToken: string;
  /** Real provider tokens obtained long ago (expired past the clock tolerance by the time they are used). */
  expiredTokens: string[];
  /** Keys in no JWKS. */
  strangerRsa: KeyObject;
  strangerEc: KeyObject;
}

export interface FuzzRequest {
  category: string;
  path: '/rps/v1/messages' | '/rps/v1/token';
  headers: Record<string, string | string[]>;
  body: Buffer;
  /** Statuses that would be right. */
  expect: number[];
  note: string;
}

// ---------------------------------------------------------------------------------------------
// Authorization headers

export function basicHeader(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
}

type AuthKind = 'basic' | 'own-bearer' | 'jwt-bearer';

function validAuth(rng: Rng, ctx: FuzzContext): { header: string; kind: AuthKind } {
  const kind = rng.pick<AuthKind>(['basic', 'basic', 'own-bearer', 'jwt-bearer']);
  if (kind === 'basic') return { kind, header: basicHeader(ctx.user, ctx.password) };
  if (kind === 'own-bearer') return { kind, header: `Bearer ${ctx.ownToken}` };
  return { kind, header: `Bearer ${ctx.jwt.token()}` };
}

// ---------------------------------------------------------------------------------------------
// Valid messages, to be broken

const FIELD_NAMES = ['title', 'n', 'status', 'description', 'priority', 'owner', 'tags', '', ' ', 'ünï', '__proto__', 'constructor', 'a.b', '$x', '0'];

function validValue(rng: Rng, depth: number): unknown {
  const k = rng.int(0, depth >= 3 ? 3 : 5);
  switch (k) {
    case 0:
      return rng.text(rng.int(0, 30), rng.chance(0.3) ? UNICODE : ASCII);
    case 1:
      return rng.pick([0, 1, -1, 3.14, -0.5, 1e300, -1e-300, 2 ** 53, rng.int(-1e6, 1e6)]);
    case 2:
      return rng.pick([true, false, null]);
    case 3:
      return rng.text(rng.int(0, 8));
    case 4:
      return Array.from({ length: rng.int(0, 4) }, () => validValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(0, 4); i > 0; i--) setOwn(o, rng.pick(FIELD_NAMES), validValue(rng, depth + 1));
      return o;
    }
  }
}

function validFields(rng: Rng): Record<string, unknown> {
  const fields: Record<string, unknown> = { id: `r-${rng.hex(8)}` };
  for (let i = rng.int(0, 8); i > 0; i--) setOwn(fields, rng.pick(FIELD_NAMES), validValue(rng, 1));
  return fields;
}

function isoDate(rng: Rng): string {
  return new Date(Date.UTC(2020, 0, 1) + rng.int(0, 2e9) * 1000).toISOString();
}

export function validMessage(rng: Rng, ctx: FuzzContext): Record<string, unknown> {
  const fields = validFields(rng);
  const m: Record<string, unknown> = {
    id: `fz-${rng.hex(16)}`,
    kind: 'change',
    processEvent: ctx.processEvent,
    source: { instanceId: 'fuzz-sender', table: rng.pick(['item', 'case', 'incident']), id: `s-${rng.hex(6)}` },
    sequence: rng.int(1, 5000),
    operation: rng.pick(['insert', 'update', 'delete']),
    capturedAt: isoDate(rng),
    interactive: rng.chance(0.5),
    fields,
    changedFields: Object.keys(fields).slice(0, rng.int(0, 3)),
    journal: [],
    attachments: [],
  };
  if (rng.chance(0.3)) m.domain = rng.pick(['global', 'emea', '']);
  if (rng.chance(0.3)) m.changedBy = rng.text(rng.int(0, 20));
  if (rng.chance(0.2)) m.stream = `stream-${rng.hex(6)}`;
  if (rng.chance(0.3)) m.target = rng.chance(0.8) ? { table: 'record', id: `t-${rng.hex(6)}` } : null;
  if (rng.chance(0.3)) m.displayValues = { status: rng.text(rng.int(1, 12)) };
  if (rng.chance(0.3)) m.journal = [validJournal(rng)];
  if (rng.chance(0.3)) m.attachments = [validAttachment(rng)];
  if (rng.chance(0.1) && m.target) m.kind = 'correlation';
  return m;
}

function validJournal(rng: Rng): Record<string, unknown> {
  return { field: 'comments', id: `j-${rng.hex(6)}`, value: rng.text(rng.int(1, 40), UNICODE), author: 'someone', createdAt: isoDate(rng) };
}

function validAttachment(rng: Rng): Record<string, unknown> {
  return { key: `k-${rng.hex(8)}`, hash: rng.hex(64), fileName: 'a.txt', contentType: 'text/plain', size: rng.int(0, 1e6) };
}

export function validEnvelope(rng: Rng, ctx: FuzzContext, count = rng.int(1, 4)): Record<string, unknown> {
  const env: Record<string, unknown> = {
    protocol: 'rps/1',
    sender: { instanceId: 'fuzz-sender', name: 'fuzz' },
    messages: Array.from({ length: count }, () => validMessage(rng, ctx)),
  };
  return env;
}

// ---------------------------------------------------------------------------------------------
// Wrong values, each guaranteed to fail its field's check

type Kind = 'id' | 'optId' | 'text' | 'date' | 'seq' | 'size' | 'bool' | 'kind' | 'operation' | 'object' | 'nullableObject' | 'array' | 'protocol' | 'messages';

function nonStrings(rng: Rng): unknown[] {
  return [0, 1, -1, 1.5, 1e308, true, false, null, [], ['x'], {}, { a: 'b' }, new Raw('1e400'), new Raw('-0'), nestedArrays(rng.int(1, 6)), new Raw(' 7 ')];
}

function longString(rng: Rng, min: number, max: number): string {
  return rng.text(rng.int(min, max), rng.chance(0.8) ? ASCII : UNICODE);
}

const BAD_DATES = ['', 'not a date', 'yesterday', '2020-13-45T25:61:00Z', 'T', '--', 'NaN', 'Infinity', '   ', 'now', '2020-02-30Tab'];
const ID_LIMIT = 256;
const TEXT_LIMIT = 1_000_000;
const FIELD_LIMIT = 500;
const MESSAGES_LIMIT = 1000;

function wrongFor(kind: Kind, rng: Rng): unknown {
  switch (kind) {
    case 'id':
      return rng.pick([...nonStrings(rng), '', longString(rng, ID_LIMIT + 1, ID_LIMIT + 3000)]);
    case 'optId':
      return rng.pick([...nonStrings(rng), longString(rng, ID_LIMIT + 1, ID_LIMIT + 3000)]);
    case 'text':
      return rng.pick(nonStrings(rng));
    case 'date': {
      const v = rng.pick([...nonStrings(rng), ...BAD_DATES, `2020-01-01T00:00:00Z${' '.repeat(ID_LIMIT)}`]);
      return typeof v === 'string' && v.length <= ID_LIMIT && !Number.isNaN(Date.parse(v)) ? 'not a date' : v;
    }
    case 'seq':
      return rng.pick([
        ...nonStrings(rng).filter((v) => v !== 1 && v !== 1e308 && !(v instanceof Raw && v.text === ' 7 ')),
        '1', 0, -1, -100, 1.5, 0.999, 2 ** 53, 1e300, new Raw('-1e400'), new Raw('1e400'), new Raw('1.5e0'),
      ]);
    case 'size':
      return rng.pick(['1', '0', -1, -0.5, 0.5, 1.25, new Raw('1e400'), new Raw('-1e400'), true, null, [], {}, [3]]);
    case 'bool':
      return rng.pick([0, 1, 'true', 'false', '', null, [], {}, [true], new Raw('1e400')]);
    case 'kind':
      return rng.pick(['Change', 'CHANGE', ' change', 'change ', 'insert', 'correlate', '', 'delete', 'change\u0000', ...nonStrings(rng)]);
    case 'operation':
      return rng.pick(['Insert', 'upsert', 'create', 'remove', '', 'change', 'update ', 'DELETE', ...nonStrings(rng)]);
    case 'object':
      return rng.pick([null, [], [{}], 'x', '', 1, 0, true, false, new Raw('1e400'), nestedArrays(3)]);
    case 'nullableObject':
      return rng.pick([[], [{}], 'x', '', 1, 0, true, false, new Raw('1e400'), nestedArrays(3)]);
    case 'array':
      return rng.pick([null, {}, { length: 1, 0: 'a' }, 'a', '', 1, 0, true, new Raw('1e400')]);
    case 'protocol':
      return rng.pick(['rps/2', 'rps/0', 'RPS/1', 'rps/1 ', ' rps/1', 'rps/1.0', '', 'rps', 'rps/1\u0000', 'rps/01', ...nonStrings(rng)]);
    case 'messages':
      return rng.pick([[], ...nonStrings(rng).filter((v) => !Array.isArray(v)), { 0: {} }]);
  }
}

/** One place in an envelope: how to make it exist (valid), and which wrong values fail there. */
interface Spot {
  name: string;
  kind: Kind;
  required: boolean;
  /** Returns the object holding the field (creating valid parents), and the field name. */
  at(env: Record<string, unknown>, rng: Rng, ctx: FuzzContext): [Record<string, unknown>, string];
}

function msgOf(env: Record<string, unknown>, rng: Rng): Record<string, unknown> {
  const messages = env.messages as Record<string, unknown>[];
  return messages[rng.int(0, messages.length - 1)];
}

function ensureObj(holder: Record<string, unknown>, key: string, make: () => Record<string, unknown>): Record<string, unknown> {
  const v = holder[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) holder[key] = make();
  return holder[key] as Record<string, unknown>;
}

function ensureFirst(holder: Record<string, unknown>, key: string, make: () => Record<string, unknown>): Record<string, unknown> {
  let list = holder[key] as Record<string, unknown>[] | undefined;
  if (!Array.isArray(list) || list.length === 0) {
    list = [make()];
    holder[key] = list;
  }
  return list[0];
}

const ENVELOPE_SPOTS: Spot[] = [
  { name: 'protocol', kind: 'protocol', required: true, at: (e) => [e, 'protocol'] },
  { name: 'sender', kind: 'object', required: true, at: (e) => [e, 'sender'] },
  { name: 'sender.instanceId', kind: 'id', required: true, at: (e) => [e.sender as Record<string, unknown>, 'instanceId'] },
  { name: 'sender.name', kind: 'optId', required: false, at: (e) => [e.sender as Record<string, unknown>, 'name'] },
  { name: 'messages', kind: 'messages', required: true, at: (e) => [e, 'messages'] },
];

const m = (name: string, kind: Kind, required: boolean): Spot => ({ name, kind, required, at: (e, rng) => [msgOf(e, rng), name] });
const sub = (parent: string, name: string, kind: Kind, required: boolean, make: (rng: Rng) => Record<string, unknown>): Spot => ({
  name: `${parent}.${name}`,
  kind,
  required,
  at: (e, rng) => [ensureObj(msgOf(e, rng), parent, () => make(rng)), name],
});
const entry = (list: string, name: string, kind: Kind, required: boolean, make: (rng: Rng) => Record<string, unknown>): Spot => ({
  name: `${list}[0].${name}`,
  kind,
  required,
  at: (e, rng) => [ensureFirst(msgOf(e, rng), list, () => make(rng)), name],
});
const sourceRef = (rng: Rng) => ({ instanceId: 'fuzz-sender', table: 'item', id: `s-${rng.hex(4)}` });
const targetRef = (rng: Rng) => ({ table: 'record', id: `t-${rng.hex(4)}` });

const MESSAGE_SPOTS: Spot[] = [
  m('id', 'id', true),
  m('kind', 'kind', true),
  m('processEvent', 'id', true),
  m('source', 'object', true),
  sub('source', 'instanceId', 'id', true, sourceRef),
  sub('source', 'table', 'id', true, sourceRef),
  sub('source', 'id', 'id', true, sourceRef),
  m('target', 'nullableObject', false),
  sub('target', 'table', 'id', true, targetRef),
  sub('target', 'id', 'id', true, targetRef),
  m('stream', 'optId', false),
  m('domain', 'optId', false),
  m('changedBy', 'optId', false),
  m('sequence', 'seq', true),
  m('operation', 'operation', true),
  m('capturedAt', 'date', true),
  m('interactive', 'bool', true),
  m('fields', 'object', false),
  m('changedFields', 'array', false),
  m('displayValues', 'object', false),
  m('journal', 'array', false),
  m('attachments', 'array', false),
  entry('journal', 'field', 'id', true, validJournal),
  entry('journal', 'id', 'id', true, validJournal),
  entry('journal', 'value', 'text', true, validJournal),
  entry('journal', 'author', 'optId', false, validJournal),
  entry('journal', 'createdAt', 'id', true, validJournal),
  entry('attachments', 'key', 'text', true, validAttachment),
  entry('attachments', 'hash', 'id', true, validAttachment),
  entry('attachments', 'fileName', 'id', true, validAttachment),
  entry('attachments', 'contentType', 'id', true, validAttachment),
  entry('attachments', 'size', 'size', true, validAttachment),
];

/** Extra, ignorable junk next to the real fault: unknown keys, big unknown values, prototype keys. */
function addJunk(rng: Rng, env: Record<string, unknown>): void {
  if (!rng.chance(0.35)) return;
  const messages = env.messages;
  const msg = Array.isArray(messages) && messages.length > 0 ? msgOf(env, rng) : undefined;
  const target = rng.chance(0.5) || typeof msg !== 'object' || msg === null || Array.isArray(msg) ? env : msg;
  const key = rng.pick(['__proto__', 'constructor', 'prototype', 'extra', 'x'.repeat(rng.int(1, 300)), 'toString', '']);
  const value = rng.pick<unknown>([{ polluted: true }, rng.text(rng.int(0, 20000)), [1, 2, 3], null, nestedArrays(50)]);
  setOwn(target, key, value);
}

// ---------------------------------------------------------------------------------------------
// /rps/v1/messages

const MESSAGES = '/rps/v1/messages';
const TOKEN = '/rps/v1/token';

function jsonType(rng: Rng): string {
  return rng.pick([
    'application/rps+json',
    'application/rps+json',
    'application/rps+json',
    'application/rps+json; charset=utf-8',
    'application/json',
    'application/json',
    'application/vnd.fuzz+json',
  ]);
}

interface BodyCase {
  body: Buffer;
  note: string;
  expect?: number[];
  /** The content type, when it must not be chosen at random. */
  type?: string;
}

/** Wraps a bad body with (mostly) valid credentials: a valid API user must not make a bad body good. */
function messagesRequest(category: string, rng: Rng, ctx: FuzzContext, c: BodyCase): FuzzRequest {
  const headers: Record<string, string | string[]> = { 'Content-Type': c.type ?? jsonType(rng) };
  let expect = c.expect ?? [400];
  let authNote: string;
  if (rng.chance(0.1)) {
    // Bad credentials: refused before the body is looked at.
    const bad = badAuthHeader(rng, ctx);
    if (bad.header !== undefined) headers.Authorization = bad.header;
    authNote = `bad auth (${bad.note})`;
    expect = [401];
  } else {
    const auth = validAuth(rng, ctx);
    headers.Authorization = auth.header;
    authNote = auth.kind;
  }
  return { category, path: MESSAGES, headers, body: c.body, expect, note: `${c.note}; ${authNote}` };
}

function envelopeType(rng: Rng, ctx: FuzzContext): BodyCase {
  const env = validEnvelope(rng, ctx);
  if (rng.chance(0.15)) {
    const body = rng.pick<unknown>([[], [env], 'rps/1', 1, true, null, new Raw('1e400'), { messages: env.messages }]);
    return { body: serialize(body), note: 'body not an object' };
  }
  const spot = rng.pick(ENVELOPE_SPOTS);
  const [holder, key] = spot.at(env, rng, ctx);
  const v = wrongFor(spot.kind, rng);
  setOwn(holder, key, v);
  addJunk(rng, env);
  return { body: serialize(env), note: `envelope ${spot.name} = ${describe(v)}` };
}

function messageType(rng: Rng, ctx: FuzzContext): BodyCase {
  const env = validEnvelope(rng, ctx);
  if (rng.chance(0.08)) {
    const messages = env.messages as unknown[];
    const i = rng.int(0, messages.length - 1);
    const v = rng.pick<unknown>([null, 'message', 1, true, [], [messages[0]], new Raw('1e400')]);
    messages[i] = v;
    return { body: serialize(env), note: `messages[${i}] = ${describe(v)}` };
  }
  if (rng.chance(0.1)) {
    // Non-finite numbers in the free-form fields.
    const msg = msgOf(env, rng);
    const fields = ensureObj(msg, 'fields', () => ({}));
    const v = rng.pick([new Raw('1e400'), new Raw('-1e400'), new Raw('[1e999]'), new Raw('{"x":-2e308}')]);
    setOwn(fields, rng.pick(FIELD_NAMES), v);
    return { body: serialize(env), note: `fields value ${describe(v)}` };
  }
  if (rng.chance(0.1)) {
    // Wrong items in lists.
    const msg = msgOf(env, rng);
    const which = rng.int(0, 3);
    if (which === 0) {
      const v = rng.pick([...nonStrings(rng), longString(rng, ID_LIMIT + 1, 2000)]);
      msg.changedFields = ['title', v];
      return { body: serialize(env), note: `changedFields[1] = ${describe(v)}` };
    }
    if (which === 1) {
      const v = rng.pick([null, 'entry', 1, [], true]);
      msg.journal = [validJournal(rng), v];
      return { body: serialize(env), note: `journal[1] = ${describe(v)}` };
    }
    if (which === 2) {
      const v = rng.pick([null, 'file', 1, [], true]);
      msg.attachments = [v];
      return { body: serialize(env), note: `attachments[0] = ${describe(v)}` };
    }
    const v = rng.pick([...nonStrings(rng)]);
    msg.displayValues = { ok: 'fine', bad: v };
    return { body: serialize(env), note: `displayValues.bad = ${describe(v)}` };
  }
  const spot = rng.pick(MESSAGE_SPOTS);
  const [holder, key] = spot.at(env, rng, ctx);
  const v = wrongFor(spot.kind, rng);
  setOwn(holder, key, v);
  addJunk(rng, env);
  return { body: serialize(env), note: `message ${spot.name} = ${describe(v)}` };
}

function missingField(rng: Rng, ctx: FuzzContext): BodyCase {
  const env = validEnvelope(rng, ctx);
  if (rng.chance(0.12)) {
    const msg = msgOf(env, rng);
    msg.kind = 'correlation';
    if (rng.chance(0.5)) delete msg.target;
    else msg.target = null;
    return { body: serialize(env), note: 'correlation message without target' };
  }
  const required = [...ENVELOPE_SPOTS, ...MESSAGE_SPOTS].filter((s) => s.required);
  const spot = rng.pick(required);
  const [holder, key] = spot.at(env, rng, ctx);
  delete holder[key];
  addJunk(rng, env);
  return { body: serialize(env), note: `missing ${spot.name}` };
}

function hugeString(rng: Rng, ctx: FuzzContext): BodyCase {
  const env = validEnvelope(rng, ctx, rng.int(1, 2));
  const msg = msgOf(env, rng);
  if (rng.chance(0.35)) {
    // Over the 1,000,000-character limit of text values (and perhaps over maxBody).
    const n = rng.int(TEXT_LIMIT + 1, TEXT_LIMIT + 100_000);
    const s = rng.chance(0.9) ? 'x'.repeat(n - 1) + rng.text(1) : rng.text(n, ['ä', 'b', '中']);
    const where = rng.int(0, 3);
    if (where === 0) setOwn(ensureObj(msg, 'fields', () => ({})), 'big', s);
    else if (where === 1) setOwn(ensureObj(msg, 'fields', () => ({})), 'deep', { a: [{ b: s }] });
    else if (where === 2) msg.displayValues = { big: s };
    else msg.journal = [{ ...validJournal(rng), value: s }];
    return { body: serialize(env), note: `text of ${n} characters (where ${where})`, expect: [400, 413] };
  }
  const spots = [...ENVELOPE_SPOTS, ...MESSAGE_SPOTS].filter((s) => s.kind === 'id' || s.kind === 'optId' || s.kind === 'date');
  const spot = rng.pick(spots);
  const [holder, key] = spot.at(env, rng, ctx);
  const s = longString(rng, ID_LIMIT + 1, rng.chance(0.8) ? 5000 : 200_000);
  setOwn(holder, key, s);
  return { body: serialize(env), note: `${spot.name} of ${s.length} characters` };
}

function hugeArray(rng: Rng, ctx: FuzzContext): BodyCase {
  const env = validEnvelope(rng, ctx, 1);
  const msg = msgOf(env, rng);
  const n = (limit: number) => limit + rng.int(1, rng.chance(0.8) ? 50 : 5000);
  switch (rng.int(0, 7)) {
    case 0: {
      const count = n(MESSAGES_LIMIT);
      const one = JSON.stringify(validMessage(rng, ctx));
      env.messages = new Raw(`[${Array.from({ length: count }, (_, i) => one.replace(/"id":"[^"]*"/, `"id":"m${i}"`)).join(',')}]`);
      return { body: serialize(env), note: `${count} messages`, expect: [400, 413] };
    }
    case 1: {
      const count = n(MESSAGES_LIMIT);
      env.messages = new Raw(`[${Array(count).fill('0').join(',')}]`);
      return { body: serialize(env), note: `${count} messages (zeros)` };
    }
    case 2: {
      const count = n(FIELD_LIMIT);
      msg.changedFields = Array.from({ length: count }, (_, i) => `f${i}`);
      return { body: serialize(env), note: `${count} changedFields` };
    }
    case 3: {
      const count = n(FIELD_LIMIT);
      const fields: Record<string, unknown> = {};
      for (let i = 0; i < count; i++) fields[`f${i}`] = i;
      msg.fields = fields;
      return { body: serialize(env), note: `${count} fields` };
    }
    case 4: {
      const count = n(FIELD_LIMIT);
      setOwn(ensureObj(msg, 'fields', () => ({})), 'list', new Raw(`[${Array(count).fill('1').join(',')}]`));
      return { body: serialize(env), note: `array field of ${count} items` };
    }
    case 5: {
      const count = n(FIELD_LIMIT);
      msg.journal = Array.from({ length: count }, () => validJournal(rng));
      return { body: serialize(env), note: `${count} journal entries` };
    }
    case 6: {
      const count = n(FIELD_LIMIT);
      msg.attachments = Array.from({ length: count }, () => validAttachment(rng));
      return { body: serialize(env), note: `${count} attachments` };
    }
    default: {
      const count = n(FIELD_LIMIT);
      const dv: Record<string, string> = {};
      for (let i = 0; i < count; i++) dv[`d${i}`] = 'v';
      msg.displayValues = dv;
      return { body: serialize(env), note: `${count} displayValues` };
    }
  }
}

function deepNesting(rng: Rng, ctx: FuzzContext): BodyCase {
  const env = validEnvelope(rng, ctx, rng.int(1, 2));
  const msg = msgOf(env, rng);
  const depth = rng.pick([17, 18, 40, 10_000, 10_000, 10_000, 10_000, 50_000, 200_000]);
  const shape = rng.int(0, 2);
  const nested = shape === 0 ? nestedArrays(depth) : shape === 1 ? nestedObjects(depth) : nestedMixed(depth);
  const where = rng.int(0, 7);
  const note = `${['arrays', 'objects', 'mixed'][shape]} nested ${depth} deep`;
  switch (where) {
    case 0:
      setOwn(ensureObj(msg, 'fields', () => ({})), 'deep', nested);
      return { body: serialize(env), note: `${note} in fields` };
    case 1:
      return { body: serialize(nested), note: `${note} as the body` };
    case 2:
      env.sender = nested;
      return { body: serialize(env), note: `${note} as sender` };
    case 3:
      msg.source = nested;
      return { body: serialize(env), note: `${note} as source` };
    case 4:
      msg.changedFields = nested;
      return { body: serialize(env), note: `${note} as changedFields` };
    case 5:
      msg.journal = nested;
      return { body: serialize(env), note: `${note} as journal` };
    case 6:
      (env.messages as unknown[])[0] = nested;
      return { body: serialize(env), note: `${note} as a message` };
    default:
      msg.fields = shape === 1 ? nested : { a: nested };
      return { body: serialize(env), note: `${note} as fields` };
  }
}

const BAD_UTF8: number[][] = [
  [0xff],
  [0xfe],
  [0xc3, 0x28],
  [0xa0, 0xa1],
  [0xe2, 0x28, 0xa1],
  [0xe2, 0x82, 0x28],
  [0xf0, 0x28, 0x8c, 0xbc],
  [0xf8, 0xa1, 0xa1, 0xa1, 0xa1],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf4, 0x90, 0x80, 0x80],
  [0x80],
  [0xc2],
];

function invalidUtf8(rng: Rng, ctx: FuzzContext): BodyCase {
  const env = validEnvelope(rng, ctx, rng.int(1, 3));
  const msg = msgOf(env, rng);
  const bad = Buffer.from(rng.pick(BAD_UTF8));
  const hex = bad.toString('hex');
  const where = rng.int(0, 5);
  if (where === 5) {
    // A multi-byte sequence cut off at the very end of the body.
    const body = serialize(env);
    return { body: Buffer.concat([body, Buffer.from([0xe2, 0x82])]), note: 'truncated UTF-8 sequence after the body' };
  }
  const inString = (s: string) => new Raw(Buffer.concat([Buffer.from(`"${s}`), bad, Buffer.from('"')]));
  if (where === 0) setOwn(ensureObj(msg, 'fields', () => ({})), 'title', inString('hello '));
  else if (where === 1) (env.sender as Record<string, unknown>).name = inString('');
  else if (where === 2) msg.changedBy = inString('me');
  else if (where === 3) msg.source = { ...(msg.source as object), id: inString('x') };
  else setOwn(ensureObj(msg, 'fields', () => ({})), 'k', { nested: inString('deep ') });
  return { body: serialize(env), note: `bytes ${hex} in a string (where ${where})` };
}

function badJson(rng: Rng, ctx: FuzzContext): BodyCase {
  const text = serialize(validEnvelope(rng, ctx, rng.int(1, 3))).toString('utf8');
  const k = rng.int(0, 15);
  const replaceValue = (raw: string): string => text.replace(/"interactive":(true|false)/, `"interactive":${raw}`);
  switch (k) {
    case 0:
    case 1:
    case 2: {
      const cut = rng.int(1, text.length - 1);
      return { body: Buffer.from(text.slice(0, cut)), note: `truncated at ${cut} of ${text.length}` };
    }
    case 3:
      return { body: Buffer.from(text + rng.pick(['x', '{}', ',', ']', ' garbage', '\u0000', '}'])), note: 'trailing garbage' };
    case 4:
      return { body: Buffer.from(text.replace(/"/g, "'")), note: 'single quotes' };
    case 5:
      return { body: Buffer.from(text.replace(/"(protocol|sender|messages)":/g, '$1:')), note: 'unquoted keys' };
    case 6:
      return { body: Buffer.from(`/* comment */${text}`), note: 'comment' };
    case 7:
      return { body: Buffer.from(text.replace(/}$/, ',}')), note: 'trailing comma' };
    case 8: {
      const tok = rng.pick(['NaN', 'Infinity', '-Infinity', 'undefined', 'True', '0x1', '01', '+1', '.5', '1.', "'x'"]);
      return { body: Buffer.from(replaceValue(tok)), note: `literal ${tok}` };
    }
    case 9:
      return { body: Buffer.from(text.replace(/"fuzz"/, '"fu\nzz"')), note: 'raw newline in a string' };
    case 10:
      return { body: Buffer.from(text.replace(/"fuzz"/, rng.pick(['"fu\\xzz"', '"fu\\u12zz"', '"fu\\"', '"\\ud800\\u"']))), note: 'bad escape' };
    case 11:
      return { body: Buffer.from(rng.pick(['', ' ', '\n\t ', '\u0000'])), note: 'empty body' };
    case 12:
      return { body: Buffer.from(rng.pick(['null', '[]', '"string"', 'true', '0', '-1', '1e400', '{}', '[{}]'])), note: 'JSON that is no envelope' };
    case 13:
      return { body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), Buffer.from(text)]), note: 'two byte order marks' };
    case 14:
      return { body: Buffer.from(text.replace(/^\{/, '{{')), note: 'doubled brace' };
    default:
      return { body: rng.bytes(rng.int(1, 2000)), note: 'random bytes' };
  }
}

function unknownEvent(rng: Rng, ctx: FuzzContext): BodyCase {
  const env = validEnvelope(rng, ctx, rng.int(1, 3));
  const msg = msgOf(env, rng);
  msg.kind = 'change';
  msg.processEvent = rng.pick([`no such event ${rng.hex(4)}`, ctx.processEvent.toUpperCase(), ` ${ctx.processEvent}`, `${ctx.processEvent}\u0000`, 'constructor', '__proto__', 'toString']);
  return { body: serialize(env), note: `processEvent ${JSON.stringify(msg.processEvent)}`, expect: [404] };
}

function duplicateId(rng: Rng, ctx: FuzzContext): BodyCase {
  const env = validEnvelope(rng, ctx, rng.int(2, 5));
  const messages = env.messages as Record<string, unknown>[];
  const i = rng.int(1, messages.length - 1);
  messages[i].id = messages[rng.int(0, i - 1)].id;
  return { body: serialize(env), note: `messages[${i}] repeats an id` };
}

/** Bodies over maxBody whose envelope is otherwise valid: only the size is wrong. */
function oversize(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const env = validEnvelope(rng, ctx, 1);
  const fields = ensureObj(msgOf(env, rng), 'fields', () => ({}));
  const overAdmin = rng.chance(0.1);
  const target = overAdmin ? ctx.adminMaxBytes + rng.int(1, 200_000) : ctx.maxBodyBytes + rng.int(1, 1_000_000);
  let i = 0;
  let remaining = target;
  while (remaining > 0) {
    const n = Math.min(remaining, 900_000);
    fields[`pad${i++}`] = 'p'.repeat(n);
    remaining -= n + 12;
  }
  const body = serialize(env);
  const type = rng.pick(['application/rps+json', 'application/json', 'application/vnd.fuzz+json']);
  const auth = validAuth(rng, ctx);
  return {
    category: 'oversize',
    path: MESSAGES,
    headers: { 'Content-Type': type, Authorization: auth.header },
    body,
    expect: [413],
    note: `valid envelope of ${body.length} bytes (maxBody ${ctx.maxBodyBytes}) as ${type}; ${auth.kind}`,
  };
}

function contentType(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const body = serialize(validEnvelope(rng, ctx));
  const auth = validAuth(rng, ctx);
  const type = rng.pick<string | undefined>([
    undefined,
    '',
    'text/plain',
    'text/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'application/xml',
    'application/octet-stream',
    'application/jsonp',
    'json',
    'application',
    'application/json-x',
    'application/x-json',
    '*/*',
    'text/html; charset=utf-8',
    'application/rps',
    'application/+json',
    rng.text(rng.int(1, 40), HEADER_CHARS).trim(),
  ]);
  const headers: Record<string, string> = { Authorization: auth.header };
  // A random type that happens to name JSON would be a good request: never sent.
  const jsonish = type !== undefined && /^\s*application\/(json|[a-z0-9.-]+\+json)\s*(;|$)/i.test(type);
  const sent = jsonish ? 'text/plain' : type;
  if (sent !== undefined) headers['Content-Type'] = sent;
  return { category: 'content-type', path: MESSAGES, headers, body, expect: [415], note: `Content-Type ${JSON.stringify(sent)}; ${auth.kind}` };
}

// ---------------------------------------------------------------------------------------------
// Bad credentials (with valid envelopes: a request that got through would be accepted)

function badAuthHeader(rng: Rng, ctx: FuzzContext): { header: string | string[] | undefined; note: string } {
  const k = rng.int(0, 27);
  const b = (s: string) => 'Basic ' + Buffer.from(s, 'utf8').toString('base64');
  switch (k) {
    case 0:
      return { header: undefined, note: 'none' };
    case 1:
      return { header: '', note: 'empty' };
    case 2:
      return { header: rng.text(rng.int(1, 200), HEADER_CHARS), note: 'garbage' };
    case 3: {
      const n = rng.int(8000, 14000);
      return { header: rng.pick(['Basic ', 'Bearer ', '']) + rng.text(n, rng.chance(0.5) ? B64 : HEADER_CHARS), note: `very long (${n})` };
    }
    case 4:
      return { header: b(ctx.user + ctx.password), note: 'basic without colon' };
    case 5:
      return { header: b('nocolonatall'), note: 'basic without colon' };
    case 6:
      return { header: rng.pick(['Basic', 'Basic ', 'Basic  ', 'Basic ===', 'Basic !!!!', 'Basic dXNlcjpw*', 'Basic ' + 'A'.repeat(3)]), note: 'basic malformed' };
    case 7:
      return { header: b(':'), note: 'basic empty user and password' };
    case 8:
      return { header: b(`${ctx.user}:`), note: 'basic empty password' };
    case 9:
      return { header: b(`${ctx.user}:${ctx.password}x`), note: 'basic wrong password' };
    case 10:
      return { header: b(`${ctx.user}:${ctx.password.slice(0, -1)}`), note: 'basic password prefix' };
    case 11:
      return { header: b(`${ctx.user}x:${ctx.password}`), note: 'basic wrong user' };
    case 12:
      return { header: b(`${differently(ctx.user, (x) => x.toUpperCase())}:${ctx.password}`), note: 'basic user case' };
    case 13:
      return { header: b(`${ctx.user}:${differently(ctx.password, (x) => x.toUpperCase())}`), note: 'basic password case' };
    case 14:
      return { header: b(`${ctx.user}:${ctx.password} `), note: 'basic password trailing space' };
    case 15:
      return { header: `Basic ${ctx.user}:${ctx.password}`, note: 'basic not base64' };
    case 16:
      return { header: b(`${ctx.jwt.subject}:${ctx.jwt.clientSecret}`), note: "the provider's client secret as basic" };
    case 17:
      return { header: b(`${ctx.user}:${ctx.password}\u0000`), note: 'basic password with NUL' };
    case 18:
      return { header: rng.pick(['Digest username="x"', 'Token abc', 'Negotiate YII=', 'AWS4-HMAC-SHA256 x', 'OAuth x', 'Bearer', 'Bearer ', 'Bearer  ']), note: 'other scheme' };
    case 19:
      return { header: `Bearer ${rng.text(rng.int(1, 300), B64URL + '.~+/')}`, note: 'bearer garbage' };
    case 20:
      return { header: `Bearer ${ctx.ownToken} ${ctx.ownToken}`, note: 'bearer twice' };
    case 21:
      return { header: `Bearer ${ctx.ownToken},${ctx.ownToken}`, note: 'bearer comma list' };
    case 22:
      return { header: `Basic ${Buffer.from(`${ctx.user}:${ctx.password}`).toString('base64')}, Bearer x`, note: 'two schemes' };
    case 23:
      return { header: [b(`${ctx.user}:wrong`), basicHeader(ctx.user, ctx.password)], note: 'two Authorization headers, the first wrong' };
    case 24:
      return { header: `Bearer ${ctx.refreshToken}`, note: 'refresh token as bearer' };
    case 25:
      return { header: `Bearer ${ctx.signingKey.toString('base64url')}`, note: 'signing key as bearer' };
    case 26:
      return { header: spoilBasic(rng, ctx.user, ctx.password), note: 'basic base64 spoiled' };
    default: {
      const pair = `${ctx.user}:${ctx.password}`;
      const at = rng.int(0, pair.length - 1);
      return { header: b(`${pair.slice(0, at)}é${pair.slice(at + 1)}`), note: 'basic with a latin1 change' };
    }
  }
}

/** `f(s)`, or `s` with an x when that is the same. */
function differently(s: string, f: (s: string) => string): string {
  const t = f(s);
  return t === s ? `${s}x` : t;
}

/** Valid basic credentials with one base64 character in the middle changed: they decode to something else. */
function spoilBasic(rng: Rng, user: string, password: string): string {
  const b64 = Buffer.from(`${user}:${password}`, 'utf8').toString('base64');
  const at = rng.int(0, Math.floor(b64.replace(/=+$/, '').length / 2));
  const ch = b64[at];
  const other = B64[(B64.indexOf(ch) + rng.int(1, 63)) % 64];
  return `Basic ${b64.slice(0, at)}${other}${b64.slice(at + 1)}`;
}

function authCase(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const bad = badAuthHeader(rng, ctx);
  const headers: Record<string, string | string[]> = { 'Content-Type': jsonType(rng) };
  if (bad.header !== undefined) headers.Authorization = bad.header;
  // A header the client cannot send (should not happen with HEADER_CHARS) falls back to none.
  return { category: 'auth', path: MESSAGES, headers, body: serialize(validEnvelope(rng, ctx)), expect: [401], note: bad.note };
}

function forgedOwn(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const now = Math.floor(Date.now() / 1000);
  const real: Record<string, unknown> = { ...ctx.ownClaims, iat: now - 5, exp: now + 200, jti: `j-${rng.hex(8)}` };
  const key = ctx.signingKey;
  const h = { typ: 'JWT', alg: 'HS256' };
  const k = rng.int(0, 27);
  let token: string;
  let note: string;
  const withKey = (claims: Record<string, unknown>, n: string): void => {
    token = jws(h, claims, signers.hs256(key));
    note = `real key, ${n}`;
  };
  switch (k) {
    case 0:
      token = jws({ typ: 'JWT', alg: rng.pick(['none', 'None', 'NONE', 'nOnE']) }, real, signers.none);
      note = 'alg none';
      break;
    case 1:
      token = jws(h, real, signers.hs256(rng.bytes(32)));
      note = 'HS256 with a random key';
      break;
    case 2:
      withKey({ ...real, iat: now - 1000, exp: now - rng.int(1, 500) }, 'expired');
      break;
    case 3:
      withKey({ ...real, aud: rng.pick(['rps:other', `${real.aud as string}x`, '', ['rps:x'], [], 'urn:rps:fuzz']) }, 'wrong audience');
      break;
    case 4:
      withKey({ ...real, iss: rng.pick(['rps:other', `${real.iss as string}x`, ctx.jwt.issuer, '']) }, 'wrong issuer');
      break;
    case 5:
      withKey({ ...real, sub: rng.pick([...ctx.otherIds, 'nobody', '', `${ctx.basicId}x`]) }, 'other sub');
      break;
    case 6:
      withKey({ ...real, cfp: rng.pick([b64url(rng.bytes(16)), '', 'x', differently(real.cfp as string, (x) => x.toUpperCase()), null, 1]) }, 'wrong cfp');
      break;
    case 7: {
      const c: Record<string, unknown> = { ...real };
      delete c[rng.pick(['exp', 'cfp', 'sub', 'iss', 'aud'])];
      withKey(c, 'a claim missing');
      break;
    }
    case 8:
      withKey({ ...real, exp: rng.pick<unknown>([String(now + 100), null, true, [now + 100], { v: 1 }]) }, 'exp of the wrong type');
      break;
    case 9:
      withKey({ ...real, iat: now, exp: now + 100_000 }, 'lifetime too long');
      break;
    case 10:
      withKey({ ...real, nbf: now + 3600 }, 'not yet valid (nbf)');
      break;
    case 11:
      withKey({ ...real, iat: now + 3600, exp: now + 3700 }, 'issued in the future');
      break;
    case 12:
      withKey({ ...real, sub: rng.pick<unknown>([1, null, [ctx.basicId], { id: ctx.basicId }]) }, 'sub of the wrong type');
      break;
    case 13:
      token = jws({ typ: 'JWT', alg: rng.pick(['HS512', 'hs256', 'HS256 ', 'RS256', 'ES256', 'HS384']) }, real, signers.hs256(key));
      note = 'HS256 signature under another alg';
      break;
    case 14:
      token = jws({ typ: 'JWT', alg: 'HS512' }, real, signers.hs512(key));
      note = 'HS512 with the real key';
      break;
    case 15: {
      const good = jws(h, real, signers.hs256(key));
      const [hh, , s] = good.split('.');
      token = `${hh}.${part({ ...real, sub: rng.pick(ctx.otherIds), exp: now + 250 })}.${s}`;
      note = 'claims changed after signing';
      break;
    }
    case 16: {
      const [hh, cc, s] = ctx.ownToken.split('.');
      token = rng.pick([`${hh}.${cc}.`, `${hh}.${cc}.${s.slice(0, -2)}`, `${hh}.${cc}.${s}AA`, `${hh}.${cc}.${b64url(rng.bytes(32))}`, `${hh}.${cc}`, `${hh}.${cc}.${s}.${s}`, `${hh}..${s}`]);
      note = 'real token, signature spoiled or parts changed';
      break;
    }
    case 17: {
      const good = jws(h, real, signers.hs256(key));
      token = `${good}=`;
      note = 'padding after the signature';
      break;
    }
    case 18:
      token = jws({ typ: 'JWT', alg: 'HS256', crit: ['exp'] }, real, signers.hs256(key));
      note = 'crit header';
      break;
    case 19:
      token = `${b64url('[1]')}.${part(real)}.${b64url(signers.hs256(key)(`${b64url('[1]')}.${part(real)}`))}`;
      note = 'header not an object';
      break;
    case 20:
      token = jws({ typ: 'JWT', alg: 'HS256', kid: rng.pick<unknown>(['../../etc/passwd', 1, null, 'x'.repeat(500)]) }, real, signers.hs256(rng.bytes(32)));
      note = 'odd kid, random key';
      break;
    case 21: {
      const input = `${part(h)}.${b64url('not json')}`;
      token = `${input}.${b64url(signers.hs256(key)(input))}`;
      note = 'real key, claims not JSON';
      break;
    }
    case 22:
      withKey({ ...real, exp: now - 1 }, 'expired a second ago');
      break;
    case 23: {
      // Re-encoded with standard base64 characters and padding: not the canonical base64url.
      const good = jws(h, real, signers.hs256(key));
      token = good
        .split('.')
        .map((p) => Buffer.from(p, 'base64url').toString('base64'))
        .join('.');
      if (token === good) token = `${good}==`;
      note = 'standard base64 instead of base64url';
      break;
    }
    case 24:
      withKey({ ...real, aud: [real.aud as string, 'someone-else'], cfp: 'forged' }, 'audience list, wrong cfp');
      break;
    case 25:
      token = jws(h, { ...real, cfp: undefined, iss: ctx.jwt.issuer, sub: ctx.jwt.subject, aud: ctx.jwt.audience }, signers.hs256(key));
      note = "real key, claims of the provider's tokens";
      break;
    case 26: {
      const long = jws(h, { ...real, cfp: 'forged', pad: 'x'.repeat(rng.int(1000, 9000)) }, signers.hs256(key));
      token = long;
      note = `real key, wrong cfp, token of ${long.length} characters`;
      break;
    }
    default:
      withKey({ ...real, iss: real.iss, sub: ctx.basicId, cfp: real.cfp, exp: 1e300 }, 'exp far in the future');
      break;
  }
  return {
    category: 'forged-own-token',
    path: MESSAGES,
    headers: { 'Content-Type': jsonType(rng), Authorization: `Bearer ${token!}` },
    body: serialize(validEnvelope(rng, ctx)),
    expect: [401],
    note: note!,
  };
}

function forgedJwt(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const now = Math.floor(Date.now() / 1000);
  const j = ctx.jwt;
  const real = decodeClaims(j.token());
  const claims = { ...real, iat: now - 1, exp: now + 60, jti: rng.hex(12) };
  const rs = { alg: 'RS256', typ: 'at+jwt', kid: j.kid };
  const k = rng.int(0, 19);
  let token: string;
  let note: string;
  switch (k) {
    case 0:
      token = jws(rs, claims, signers.rs256(ctx.strangerRsa));
      note = 'RS256 with a key not in the JWKS, real kid';
      break;
    case 1:
      token = jws({ ...rs, kid: rng.hex(16) }, claims, signers.rs256(ctx.strangerRsa));
      note = 'RS256 with a key not in the JWKS, unknown kid';
      break;
    case 2: {
      const h: Record<string, unknown> = { ...rs };
      delete h.kid;
      token = jws(h, claims, signers.rs256(ctx.strangerRsa));
      note = 'RS256 with a key not in the JWKS, no kid';
      break;
    }
    case 3:
      token = jws({ typ: 'JWT', alg: rng.pick(['none', 'None']), kid: j.kid }, claims, signers.none);
      note = 'alg none';
      break;
    case 4:
      token = jws({ alg: 'HS256', kid: j.kid }, claims, signers.hs256(j.publicPem));
      note = "HS256 with the provider's public key PEM as secret (algorithm confusion)";
      break;
    case 5:
      token = jws({ alg: 'HS256', kid: j.kid }, claims, signers.hs256(j.publicN));
      note = "HS256 with the provider's JWK modulus as secret";
      break;
    case 6:
      token = jws({ alg: 'HS256' }, claims, signers.hs256(ctx.signingKey));
      note = "HS256 with our own store's key, provider claims";
      break;
    case 7:
      token = jws({ alg: 'ES256', kid: j.kid }, claims, signers.es256(ctx.strangerEc));
      note = 'ES256 (not allowed) with a stranger key';
      break;
    case 8:
      token = jws({ ...rs, alg: 'PS256' }, claims, signers.ps256(ctx.strangerRsa));
      note = 'PS256 (not allowed) with a stranger key';
      break;
    case 9: {
      const [h, , s] = j.token().split('.');
      token = `${h}.${part({ ...real, exp: now + 100_000 })}.${s}`;
      note = 'real token, exp extended after signing';
      break;
    }
    case 10: {
      const [h, , s] = j.token().split('.');
      token = `${h}.${part({ ...real, aud: rng.pick([j.audience + 'x', [j.audience, 'urn:x']]), client_id: j.subject })}.${s}`;
      note = 'real token, claims changed after signing';
      break;
    }
    case 11: {
      const [h, c, s] = j.token().split('.');
      token = rng.pick([`${h}.${c}.`, `${h}.${c}.${s.slice(0, -4)}`, `${h}.${c}.${s.split('').reverse().join('')}`, `${h}.${c}.${b64url(rng.bytes(256))}`]);
      note = 'real token, signature spoiled';
      break;
    }
    case 12: {
      const [, c, s] = j.token().split('.');
      token = `${part({ alg: rng.pick(['none', 'HS256', 'RS512', 'PS256']), kid: j.kid })}.${c}.${s}`;
      note = 'real token, header alg changed';
      break;
    }
    case 13:
      token = jws(rs, { ...claims, iss: `${j.issuer}/` }, signers.rs256(ctx.strangerRsa));
      note = 'stranger key, issuer with a slash';
      break;
    case 14:
      token = ctx.foreignIssuerToken;
      note = 'real token from another provider (foreign issuer)';
      break;
    case 15:
      token = ctx.wrongAudienceToken();
      note = 'real token of this provider for the wrong audience';
      break;
    case 16:
      token = jws(rs, { ...claims, exp: now - 3600 }, signers.rs256(ctx.strangerRsa));
      note = 'stranger key, expired';
      break;
    case 17:
      token = jws({ ...rs, jku: 'http://127.0.0.1:1/jwks', x5u: 'http://127.0.0.1:1/x' }, claims, signers.rs256(ctx.strangerRsa));
      note = 'stranger key, jku/x5u headers pointing elsewhere';
      break;
    case 18:
      token = jws({ ...rs, jwk: ctx.strangerRsa.export({ format: 'jwk' }) }, claims, signers.rs256(ctx.strangerRsa));
      note = 'stranger key embedded as jwk header';
      break;
    default:
      token = jws(rs, { ...claims, client_id: rng.pick(['other-client', '', j.subject + ' ']), sub: 'other-client' }, signers.rs256(ctx.strangerRsa));
      note = 'stranger key, other client';
      break;
  }
  return {
    category: 'forged-jwt',
    path: MESSAGES,
    headers: { 'Content-Type': jsonType(rng), Authorization: `Bearer ${token}` },
    body: serialize(validEnvelope(rng, ctx)),
    expect: [401],
    note,
  };
}

function expiredReal(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const token = rng.pick(ctx.expiredTokens);
  return {
    category: 'expired-real-token',
    path: MESSAGES,
    headers: { 'Content-Type': jsonType(rng), Authorization: `Bearer ${token}` },
    body: serialize(validEnvelope(rng, ctx)),
    expect: [401],
    note: `a real provider token that expired at ${String(decodeClaims(token).exp)}`,
  };
}

// ---------------------------------------------------------------------------------------------
// /rps/v1/token

const FORM = 'application/x-www-form-urlencoded';

/** Percent-encoding of the UTF-8 bytes (a lone surrogate becomes U+FFFD, where encodeURIComponent would throw). */
function pct(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function form(params: [string, string][]): string {
  return params.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&');
}

interface ClientAuth {
  header?: string;
  params: [string, string][];
  note: string;
}

function goodClient(rng: Rng, ctx: FuzzContext): ClientAuth {
  if (rng.chance(0.6)) return { header: basicHeader(pct(ctx.user), pct(ctx.password)), params: [], note: 'client basic' };
  return { params: [['client_id', ctx.user], ['client_secret', ctx.password]], note: 'client in body' };
}

function tokenRequest(category: string, rng: Rng, _ctx: FuzzContext, client: ClientAuth, params: [string, string][], expect: number[], note: string, type = FORM): FuzzRequest {
  const all = rng.chance(0.5) ? [...client.params, ...params] : [...params, ...client.params];
  const headers: Record<string, string> = { 'Content-Type': type };
  if (client.header !== undefined) headers.Authorization = client.header;
  return { category, path: TOKEN, headers, body: Buffer.from(form(all)), expect, note: `${note}; ${client.note}` };
}

function tokenContentType(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const client = goodClient(rng, ctx);
  const params: [string, string][] = [['grant_type', 'client_credentials'], ...client.params];
  const k = rng.int(0, 3);
  const headers: Record<string, string> = {};
  if (client.header) headers.Authorization = client.header;
  let body: Buffer;
  let note: string;
  if (k === 0) {
    body = Buffer.from(JSON.stringify(Object.fromEntries(params)));
    headers['Content-Type'] = 'application/json';
    note = 'the parameters as JSON';
  } else if (k === 1) {
    body = Buffer.from(form(params));
    const type = rng.pick<string | undefined>([undefined, '', 'text/plain', 'application/json', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencodedx', 'x-www-form-urlencoded', 'application/form', 'application/rps+json', 'form']);
    if (type !== undefined) headers['Content-Type'] = type;
    note = `a form as ${JSON.stringify(type)}`;
  } else if (k === 2) {
    body = Buffer.from(form(params));
    const type = `${FORM}; charset=${rng.pick(['utf-16', 'foo', 'latin1', 'utf-32le', 'ebcdic'])}`;
    headers['Content-Type'] = type;
    note = `a form in charset ${type}`;
  } else {
    body = Buffer.from(`--x\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--x--\r\n`);
    headers['Content-Type'] = 'multipart/form-data; boundary=x';
    note = 'multipart form';
  }
  return { category: 'token-content-type', path: TOKEN, headers, body, expect: [400, 415], note: `${note}; ${client.note}` };
}

function tokenGrant(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const client = goodClient(rng, ctx);
  const grant = rng.pick<string | undefined>([
    undefined,
    '',
    'password',
    'authorization_code',
    'implicit',
    'urn:ietf:params:oauth:grant-type:jwt-bearer',
    'urn:ietf:params:oauth:grant-type:device_code',
    'urn:ietf:params:oauth:grant-type:token-exchange',
    'CLIENT_CREDENTIALS',
    'Client_Credentials',
    'client_credentials ',
    ' client_credentials',
    'client_credentials\u0000',
    'client-credentials',
    'refresh',
    'refresh_token ',
    'constructor',
    '__proto__',
    rng.text(rng.int(1, 60), UNICODE),
    'x'.repeat(rng.int(1000, 6000)),
  ]);
  const params: [string, string][] = grant === undefined ? [] : [['grant_type', grant]];
  if (rng.chance(0.3)) params.push(['scope', 'offline_access']);
  if (rng.chance(0.2)) params.push(['refresh_token', ctx.refreshToken]);
  return tokenRequest('token-grant', rng, ctx, client, params, [400], `grant_type ${describe(grant)}`);
}

function tokenRefresh(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const client = goodClient(rng, ctx);
  const rt = ctx.refreshToken;
  const value = rng.pick<string | undefined>([
    undefined,
    '',
    b64url(rng.bytes(32)),
    rng.text(rng.int(1, 100), UNICODE),
    'x'.repeat(rng.int(2000, 7000)),
    rt.slice(0, -1) + (rt.endsWith('A') ? 'B' : 'A'),
    rt + 'x',
    rt.slice(1),
    rt.toUpperCase() === rt ? rt.toLowerCase() : rt.toUpperCase(),
    ctx.ownToken,
    ` ${rt}`,
    `${rt}\u0000`,
  ]);
  const params: [string, string][] = [['grant_type', 'refresh_token']];
  if (value !== undefined) params.push(['refresh_token', value]);
  if (rng.chance(0.2)) params.push(['scope', 'offline_access']);
  return tokenRequest('token-refresh', rng, ctx, client, params, [400], `refresh_token ${describe(value)}`);
}

function tokenClientAuth(rng: Rng, ctx: FuzzContext): FuzzRequest {
  // A request that would be granted with the right client: a refresh with the real token, or new tokens.
  const grant: [string, string][] = rng.chance(0.3)
    ? [['grant_type', 'refresh_token'], ['refresh_token', ctx.refreshToken]]
    : [['grant_type', 'client_credentials'], ...(rng.chance(0.5) ? ([['scope', 'offline_access']] as [string, string][]) : [])];
  const u = ctx.user;
  const p = ctx.password;
  const enc = pct;
  const k = rng.int(0, 21);
  const b = (user: string, pw: string) => basicHeader(user, pw);
  const cases: (() => [ClientAuth, number[]])[] = [
    () => [{ header: b(enc(u), enc(p + 'x')), params: [], note: 'basic, wrong secret' }, [401]],
    () => [{ params: [['client_id', u], ['client_secret', p + 'x']], note: 'body, wrong secret' }, [401]],
    () => [{ params: [['client_id', u], ['client_secret', '']], note: 'body, empty secret' }, [401]],
    () => [{ header: b(enc(u + 'x'), enc(p)), params: [], note: 'basic, wrong client' }, [401]],
    () => [{ params: [], note: 'no client authentication' }, [401]],
    () => [{ params: [['client_id', u]], note: 'client_id only' }, [401]],
    () => [{ params: [['client_secret', p]], note: 'client_secret only' }, [401]],
    () => [{ header: b(enc(u), enc(p)), params: [['client_id', u], ['client_secret', p]], note: 'both basic and body' }, [400]],
    () => [{ header: b(enc(u), enc(p)), params: [['client_secret', p]], note: 'basic and secret in body' }, [400]],
    () => [{ header: 'Basic ' + Buffer.from(u + p).toString('base64'), params: [], note: 'basic without colon' }, [401]],
    () => [{ header: b(`${u}%ZZ`, p), params: [], note: 'basic, bad form encoding' }, [401]],
    () => [{ header: b(enc(u), `${p}%`), params: [], note: 'basic, bad form encoding of the secret' }, [401]],
    () => [{ header: `Bearer ${ctx.ownToken}`, params: [], note: 'bearer instead of client authentication' }, [401]],
    () => [{ header: rng.text(rng.int(1, 200), HEADER_CHARS), params: [], note: 'garbage header' }, [401]],
    () => [{ header: 'Basic ' + rng.text(rng.int(8000, 14000), B64), params: [], note: 'very long basic' }, [401]],
    () => [{ header: b(enc(ctx.jwt.subject), enc(ctx.jwt.clientSecret)), params: [], note: "the provider's client" }, [401]],
    () => [{ header: b(enc(u), enc(differently(p, (x) => x.toUpperCase()))), params: [], note: 'basic, secret case changed' }, [401]],
    () => [{ params: [['client_id', differently(u, (x) => x.toUpperCase())], ['client_secret', p]], note: 'body, client id case changed' }, [401]],
    () => [{ header: b(enc(u), enc(ctx.signingKey.toString('base64url'))), params: [], note: 'signing key as secret' }, [401]],
    () => [{ header: '', params: [], note: 'empty Authorization' }, [400, 401]],
    () => [{ header: spoilBasic(rng, enc(u), enc(p)), params: [], note: 'basic spoiled' }, [401]],
    () => [{ params: [['client_id', u], ['client_secret', ` ${p}`]], note: 'body, secret with a leading space' }, [401]],
  ];
  const [client, expect] = cases[k]();
  return tokenRequest('token-client-auth', rng, ctx, client, grant, expect, `grant ${grant[0][1]}`);
}

function tokenDuplicates(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const client = goodClient(rng, ctx);
  const k = rng.int(0, 7);
  let params: [string, string][];
  let note: string;
  switch (k) {
    case 0:
      params = [['grant_type', 'client_credentials'], ['grant_type', 'client_credentials']];
      note = 'grant_type twice, same value';
      break;
    case 1:
      params = [['grant_type', 'client_credentials'], ['grant_type', 'refresh_token']];
      note = 'grant_type twice, different values';
      break;
    case 2:
      params = [['grant_type', 'client_credentials'], ['scope', 'offline_access'], ['scope', 'offline_access']];
      note = 'scope twice';
      break;
    case 3:
      params = [['grant_type', 'refresh_token'], ['refresh_token', ctx.refreshToken], ['refresh_token', ctx.refreshToken]];
      note = 'refresh_token twice';
      break;
    case 4:
      params = [['grant_type[]', 'client_credentials']];
      note = 'grant_type[]';
      break;
    case 5:
      params = [['grant_type[a]', 'client_credentials']];
      note = 'grant_type[a]';
      break;
    case 6:
      // The client in the body, given twice.
      return tokenRequest(
        'token-duplicates',
        rng,
        ctx,
        { params: [['client_id', ctx.user], ['client_id', ctx.user], ['client_secret', ctx.password]], note: 'client_id twice' },
        [['grant_type', 'client_credentials']],
        [400, 401],
        'client_id twice',
      );
    default:
      return tokenRequest(
        'token-duplicates',
        rng,
        ctx,
        { params: [['client_id', ctx.user], ['client_secret', ctx.password], ['client_secret', ctx.password]], note: 'client_secret twice' },
        [['grant_type', 'client_credentials']],
        [400, 401],
        'client_secret twice',
      );
  }
  return tokenRequest('token-duplicates', rng, ctx, client, params, [400], note);
}

function tokenScope(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const client = goodClient(rng, ctx);
  const scope = rng.pick([
    'openid',
    'admin',
    'offline_access admin',
    'sync offline_access',
    'OFFLINE_ACCESS',
    'offline-access',
    '*',
    'offline_access\u0000',
    'offline_access\tadmin',
    rng.text(rng.int(1, 50), UNICODE).replace(/ /g, '') || 'x',
    'y'.repeat(rng.int(1000, 6000)),
  ]);
  return tokenRequest('token-scope', rng, ctx, client, [['grant_type', 'client_credentials'], ['scope', scope]], [400], `scope ${describe(scope)}`);
}

function tokenBody(rng: Rng, ctx: FuzzContext): FuzzRequest {
  const client = goodClient(rng, ctx);
  const base = form([['grant_type', 'client_credentials'], ...client.params]);
  const headers: Record<string, string> = { 'Content-Type': FORM };
  if (client.header) headers.Authorization = client.header;
  const k = rng.int(0, 8);
  let body: Buffer;
  let note: string;
  let expect = [400];
  switch (k) {
    case 0:
      body = Buffer.concat([Buffer.from(`${base}&note=`), Buffer.from(rng.pick(BAD_UTF8))]);
      note = 'invalid UTF-8 in an extra parameter';
      break;
    case 1:
      body = Buffer.concat([Buffer.from('grant_type=client_'), Buffer.from(rng.pick(BAD_UTF8)), Buffer.from(`credentials&${form(client.params)}`)]);
      note = 'invalid UTF-8 in grant_type';
      break;
    case 2:
      body = Buffer.from(rng.pick(['', '&&&&', '=', '==&==', 'grant_type', '&grant_type&', '%', '%%%', 'grant_type=%']));
      note = 'empty or degenerate form';
      expect = [400, 401];
      break;
    case 3: {
      const n = rng.int(9 * 1024, 200 * 1024);
      body = Buffer.from(`${base}&pad=${'p'.repeat(n)}`);
      note = `a form of ${body.length} bytes (over the 8 KiB a token request may have)`;
      expect = [400, 413];
      break;
    }
    case 4: {
      const n = rng.int(1001, 3000);
      body = Buffer.from(`${base}&${Array.from({ length: n }, (_, i) => `p${i}=1`).join('&')}`);
      note = `${n + 1} parameters`;
      expect = [400, 413];
      break;
    }
    case 5:
      body = rng.bytes(rng.int(1, 3000));
      note = 'random bytes';
      expect = [400, 401];
      break;
    case 6:
      body = Buffer.from(`${base}&grant_type=${'%41'.repeat(rng.int(1, 2000))}`);
      note = 'grant_type again, percent-encoded';
      break;
    case 7:
      body = Buffer.from(`grant_type=client%5Fcredentials%FF&${form(client.params)}`);
      note = 'percent-encoded invalid UTF-8 in grant_type';
      break;
    default:
      body = Buffer.from(JSON.stringify({ grant_type: 'client_credentials' }));
      note = 'JSON sent as a form';
      expect = [400, 401];
      break;
  }
  return { category: 'token-body', path: TOKEN, headers, body, expect, note: `${note}; ${client.note}` };
}

// ---------------------------------------------------------------------------------------------
// Plans

type Generator = (rng: Rng, ctx: FuzzContext) => FuzzRequest;

const bodyCategory = (category: string, make: (rng: Rng, ctx: FuzzContext) => BodyCase): Generator => (rng, ctx) => messagesRequest(category, rng, ctx, make(rng, ctx));

export const MESSAGE_CATEGORIES: Record<string, { weight: number; make: Generator }> = {
  'envelope-type': { weight: 260, make: bodyCategory('envelope-type', envelopeType) },
  'message-type': { weight: 700, make: bodyCategory('message-type', messageType) },
  'missing-field': { weight: 300, make: bodyCategory('missing-field', missingField) },
  'huge-string': { weight: 120, make: bodyCategory('huge-string', hugeString) },
  'huge-array': { weight: 140, make: bodyCategory('huge-array', hugeArray) },
  'deep-nesting': { weight: 160, make: bodyCategory('deep-nesting', deepNesting) },
  'invalid-utf8': { weight: 200, make: bodyCategory('invalid-utf8', invalidUtf8) },
  'bad-json': { weight: 300, make: bodyCategory('bad-json', badJson) },
  'unknown-event': { weight: 60, make: bodyCategory('unknown-event', unknownEvent) },
  'duplicate-id': { weight: 60, make: bodyCategory('duplicate-id', duplicateId) },
  'content-type': { weight: 200, make: contentType },
  oversize: { weight: 24, make: oversize },
  auth: { weight: 400, make: authCase },
  'forged-own-token': { weight: 300, make: forgedOwn },
  'forged-jwt': { weight: 300, make: forgedJwt },
};

/** Sent last: the provider's tokens obtained at set-up must have expired (clock tolerance included). */
export const EXPIRED_CATEGORY: Record<string, { weight: number; make: Generator }> = {
  'expired-real-token': { weight: 40, make: expiredReal },
};

export const TOKEN_CATEGORIES: Record<string, { weight: number; make: Generator }> = {
  'token-content-type': { weight: 160, make: tokenContentType },
  'token-grant': { weight: 260, make: tokenGrant },
  'token-refresh': { weight: 260, make: tokenRefresh },
  'token-client-auth': { weight: 400, make: tokenClientAuth },
  'token-duplicates': { weight: 200, make: tokenDuplicates },
  'token-scope': { weight: 140, make: tokenScope },
  'token-body': { weight: 180, make: tokenBody },
};

/** The order in which the categories are sent: each as often as its weight, shuffled by the seed. */
export function schedule(seed: number, categories: Record<string, { weight: number }>): string[] {
  const order: string[] = [];
  for (const [name, c] of Object.entries(categories)) for (let i = 0; i < c.weight; i++) order.push(name);
  return new Rng(seed ^ 0x5eed).shuffle(order);
}

// ---------------------------------------------------------------------------------------------
// Sending and checking

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function send(baseUrl: string, agent: http.Agent, r: FuzzRequest, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[] | number> = { ...r.headers, 'Content-Length': r.body.length };
    const req = http.request(`${baseUrl}${r.path}`, { method: 'POST', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(r.body);
  });
}

const STACK_TRACE = [/\bat\s+\S*\s*\(?(?:\/|[A-Za-z]:\\|node:)[^\s)]*:\d+(?::\d+)?/, /node_modules/, /\.(?:js|ts|mjs|cjs):\d+:\d+/, /\n\s+at\s/];

/** What is wrong with an answer to a request that had to be refused ([] when nothing). */
export function checkAnswer(r: FuzzRequest, a: Answer, secrets: readonly string[]): string[] {
  const problems: string[] = [];
  if (a.status < 400 || a.status > 499) problems.push(`status ${a.status}, not 4xx`);
  else if (!r.expect.includes(a.status)) problems.push(`status ${a.status}, expected ${r.expect.join('/')}`);
  const type = String(a.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(type)) problems.push(`content type ${JSON.stringify(type)}, not JSON`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(a.body);
  } catch {
    parsed = undefined;
  }
  const error = typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown }).error : undefined;
  if (a.status !== 200 && (typeof error !== 'string' || error === '')) problems.push('no JSON body with a string "error"');
  if (STACK_TRACE.some((re) => re.test(a.body))) problems.push('stack trace or file path in the answer');
  const text = a.body + '\n' + JSON.stringify(a.headers);
  for (const s of secrets) if (s.length >= 6 && text.includes(s)) problems.push(`a secret (${s.slice(0, 3)}...) in the answer`);
  return problems;
}

/** A short description of a value for notes (never the whole of a big one). */
export function describe(v: unknown): string {
  if (v instanceof Raw) return `raw ${clip(v.text.toString())}`;
  if (v === undefined) return 'absent';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return clip(s);
}

export function clip(s: string, n = 120): string {
  return s.length > n ? `${s.slice(0, n)}... (${s.length} chars)` : s;
}

/** The request as text for a failure report: headers in full (clipped), the body's start and size. */
export function showRequest(r: FuzzRequest): string {
  const headers = Object.entries(r.headers)
    .map(([k, v]) => `${k}: ${clip(JSON.stringify(v), 300)}`)
    .join('\n    ');
  const body = r.body.toString('utf8');
  return `POST ${r.path} [${r.category}] ${r.note}\n    ${headers}\n    body (${r.body.length} bytes): ${clip(JSON.stringify(body), 400)}`;
}

/** Public key forms of a JWK (PEM and modulus), for algorithm confusion forgeries. */
export function publicForms(jwk: Record<string, unknown>): { pem: string; n: string } {
  const key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  return { pem: key.export({ type: 'spki', format: 'pem' }).toString(), n: String(jwk.n ?? '') };
}
