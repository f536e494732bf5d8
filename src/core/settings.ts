/**
 * The rules of node settings that the runtime applies and the editor's forms show: the
 * choices of list settings, the defaults and limits of number settings, and the check of
 * remote URLs. One source for both: the build writes them into the editor's script
 * resources/rps-rules.js (see scripts/editor-rules.ts), so a form never keeps a copy.
 * Pure; what the editor runs (checkRemoteUrl) uses nothing but the language and URL.
 */

/** How the remote system's API is called. */
export const AUTH_TYPES = Object.freeze(['none', 'basic', 'bearer', 'oauth2-client', 'oauth2-refresh'] as const);
/** How callers of our inbound API authenticate. */
export const INBOUND_AUTHS = Object.freeze(['basic', 'jwt'] as const);
/** When a remote system becomes active: after "Validate and activate", or at deploy. */
export const ACTIVATIONS = Object.freeze(['validate', 'deploy'] as const);
/** Where the OAuth2 client presents its id and secret to the token endpoint. */
export const TOKEN_AUTH_METHODS = Object.freeze(['header', 'body'] as const);

/**
 * JWS algorithms accepted for an external provider's tokens: public-key ones only (never
 * 'none', never HS256, which is reserved for our own tokens).
 */
export const JWT_ALGORITHMS = Object.freeze(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const);
export const DEFAULT_JWT_ALGORITHMS = 'RS256, ES256';

/** The fixed-value types of a mapping row (see core/mapping.ts). */
export const FIXED_VALUE_TYPES = Object.freeze(['str', 'num', 'bool', 'json'] as const);

/**
 * A number setting: its default (when empty or not a number), its least and greatest
 * values, and whether it is a whole number. The runtime reads a setting by its rule
 * (ruledNumber) and the editor's form checks it by the same rule (numberAccepted), so a
 * value the form accepts is the value the runtime uses.
 */
export interface NumberRule {
  readonly value: number;
  readonly min: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/** The number settings of one node, by property name. */
export type NumberRules<K extends string = string> = Readonly<Record<K, NumberRule>>;

function rules<K extends string>(table: Record<K, NumberRule>): NumberRules<K> {
  for (const rule of Object.values<NumberRule>(table)) Object.freeze(rule);
  return Object.freeze(table);
}

/** The number settings of rps-remote-system (units as the form shows them: seconds, MiB, per second). */
export const REMOTE_SYSTEM_NUMBERS = rules({
  refreshWindow: { value: 60, min: 0 },
  tokenLifetime: { value: 300, min: 10, integer: true },
  inboundRate: { value: 50, min: 0 },
  maxBody: { value: 10, min: 0.001 },
  batchSize: { value: 200, min: 1, integer: true },
  maxInFlight: { value: 2, min: 1, integer: true },
  timeout: { value: 30, min: 1 },
  retryDelay: { value: 1, min: 0.01 },
  retryMaxDelay: { value: 60, min: 0.01 },
  linger: { value: 5, min: 0 },
  maxTries: { value: 3, min: 1, integer: true },
  // A probe is one small GET: at 5 s a returning remote is used within 5 s (at 30 s a fault
  // run's sender took up to 30 s to notice its receiver was back).
  probeInterval: { value: 5, min: 0.01 },
});

/** The number settings of rps-store: the PostgreSQL pool, and days to keep rows by status (0: for ever). */
export const STORE_NUMBERS = rules({
  pgPool: { value: 10, min: 1, integer: true },
  keepProcessed: { value: 7, min: 0 },
  keepSkipped: { value: 7, min: 0 },
  keepError: { value: 30, min: 0 },
  keepReady: { value: 30, min: 0 },
});

/** The number settings of rps-inbound (seconds). */
export const INBOUND_NUMBERS = rules({
  maxParallel: { value: 16, min: 1, integer: true },
  timeout: { value: 60, min: 0.05 },
  gapWait: { value: 30, min: 0 },
});

/** The number settings of rps-queue-retry (seconds). */
export const QUEUE_RETRY_NUMBERS = rules({
  interval: { value: 300, min: 0.05 },
  maxRetries: { value: 5, min: 0, integer: true },
  settle: { value: 60, min: 0 },
});

/** rps-stats: seconds between messages (0: only when a message comes in). */
export const STATS_NUMBERS = rules({
  interval: { value: 60, min: 0 },
});

/** Where rps-delta-load reads records: a REST API it calls, or the flow (page requests on its second output). */
/** rps-attachment-sync: its modes, what it sends, how it hands a file's content to the flow. */
export const ATTACHMENT_MODES = Object.freeze(['send', 'receive'] as const);
export const ATTACHMENT_STRATEGIES = Object.freeze(['deltas', 'all'] as const);
export const ATTACHMENT_CONTENTS = Object.freeze(['path', 'stream', 'buffer'] as const);

/** Largest file in MB (0: any size), and how long a synthetic key opens, in days. */
export const ATTACHMENT_NUMBERS = rules({
  maxSizeMb: { value: 0, min: 0 },
  keyDays: { value: 7, min: 0.01 },
});

export const DELTA_SOURCES = Object.freeze(['rest', 'flow'] as const);
/** When rps-delta-load runs: every interval after the last run ends, on a cron schedule, or on an input message. */
export const DELTA_SCHEDULES = Object.freeze(['interval', 'cron', 'input'] as const);
/** What rps-delta-load's initial load (no watermark yet) reads: every record, or those after a start time. */
export const DELTA_INITIAL_LOADS = Object.freeze(['all', 'after'] as const);

/** The number settings of rps-delta-load (seconds, records, pages). */
export const DELTA_LOAD_NUMBERS = rules({
  pageSize: { value: 100, min: 1, max: 10_000, integer: true },
  lookBack: { value: 5, min: 0 },
  pagesInFlight: { value: 1, min: 1, max: 100, integer: true },
  recordTimeout: { value: 60, min: 1 },
  interval: { value: 60, min: 0.05 },
});

/**
 * A number setting read by its rule. The editor stores numbers as text: the default when
 * empty or not a number, else the number held within the limits (a whole number rounded
 * down when the rule asks for one).
 */
export function ruledNumber(rule: NumberRule, value: unknown): number {
  const n = typeof value === 'number' ? value : Number(String(value ?? '').trim());
  if (String(value ?? '').trim() === '' || !Number.isFinite(n)) return rule.value;
  const held = Math.min(rule.max ?? Infinity, Math.max(rule.min, n));
  return rule.integer ? Math.max(rule.min, Math.floor(held)) : held;
}

/**
 * Whether the runtime takes `value` as it is under `rule`: empty (the default), or a
 * number within the limits (whole when the rule asks for one). The editor's forms mark
 * any other value. Runs in the editor too (resources/rps-rules.js): uses nothing but the
 * language.
 */
export function numberAccepted(rule: NumberRule, value: unknown): boolean {
  const text = value === undefined || value === null ? '' : String(value).trim();
  if (text === '') return true;
  const n = Number(text);
  if (!isFinite(n) || n < rule.min) return false;
  if (rule.max !== undefined && n > rule.max) return false;
  return !rule.integer || Math.floor(n) === n;
}

/** Accepts http(s) URLs only, and refuses ones that carry credentials (they belong in the credential fields). */
export function checkRemoteUrl(text: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password) return undefined;
  return url;
}
