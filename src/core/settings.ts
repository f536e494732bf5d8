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

/** A number setting: its default (when empty or not a number) and its least value; `integer` when the form asks for a whole number. */
export interface NumberRule {
  readonly value: number;
  readonly min: number;
  readonly integer?: boolean;
}

function rules<K extends string>(table: Record<K, NumberRule>): Readonly<Record<K, NumberRule>> {
  return Object.freeze(table);
}

/** The number settings of rps-remote-system (units as the form shows them: seconds, MiB, per second). */
export const REMOTE_SYSTEM_NUMBERS = rules({
  refreshWindow: { value: 60, min: 0 },
  tokenLifetime: { value: 300, min: 10 },
  inboundRate: { value: 50, min: 0 },
  maxBody: { value: 10, min: 0.001 },
  batchSize: { value: 200, min: 1, integer: true },
  maxInFlight: { value: 2, min: 1, integer: true },
  timeout: { value: 30, min: 1 },
  retryDelay: { value: 1, min: 0.01 },
  retryMaxDelay: { value: 60, min: 0.01 },
  linger: { value: 5, min: 0 },
  maxTries: { value: 3, min: 1, integer: true },
  probeInterval: { value: 30, min: 0.01 },
});

/** Reads a number setting from the editor, which stores numbers as text; falls back when empty or invalid. */
export function numberSetting(value: unknown, fallback: number, min: number): number {
  const n = typeof value === 'number' ? value : Number(String(value ?? '').trim());
  if (String(value ?? '').trim() === '' || !Number.isFinite(n)) return fallback;
  return Math.max(min, n);
}

/** A number setting read by its rule. */
export function ruledNumber(rule: NumberRule, value: unknown): number {
  return numberSetting(value, rule.value, rule.min);
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
