/**
 * Retry delays: capped exponential backoff with full jitter, so that many rows
 * failing together do not retry in lock-step. Pure (the random source is injected).
 */
export interface BackoffPolicy {
  /** Delay before the first retry, ms. */
  baseMs: number;
  /** Upper bound of any delay, ms. */
  maxMs: number;
}

/** Delay before retry number `attempt` (1 = first retry). Half fixed, half random, never above `maxMs`. */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** The longest wait a remote may ask for with Retry-After: it cannot park our queue for weeks. */
export const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;

/**
 * Reads a `Retry-After` header (seconds or HTTP date) into ms from `now`, at most
 * MAX_RETRY_AFTER_MS; undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** setTimeout takes at most 2^31-1 ms; a longer delay would fire at once (and spin). */
export function timerDelay(ms: number): number {
  return Math.min(2 ** 31 - 1, Math.max(0, ms));
}
