/**
 * Which PostgreSQL failures mean "the server cannot be reached now" (it is stopped,
 * restarting, recovering, or the connection to it was cut), as opposed to a statement
 * that failed. Those become StoreUnavailableError: the callers' sign to keep the work
 * and try again later (see OpeningStore), never a reason to give anything up.
 */
import { StoreUnavailableError } from '../opening';

/**
 * SQLSTATEs of a server going away or not ready: admin_shutdown (also "unexpected
 * postmaster exit"), crash_shutdown, cannot_connect_now (starting, recovering, shutting
 * down) and too_many_connections. Class 08 (connection exception) is matched whole.
 */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** Node's codes of a socket that cannot connect or was cut (ENOENT: a Unix socket that is not there). */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT']);

/** pg's own texts for a connection that ended or cannot be used: it gives them no code. */
const LOST_CONNECTION = /^Connection terminated|is not queryable|timeout exceeded when trying to connect/;

export function isUnreachable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_STATES.has(code) || SOCKET_CODES.has(code))) return true;
  return LOST_CONNECTION.test(err.message);
}

/** `err` as a StoreUnavailableError when the server cannot be reached; as it is otherwise. */
export function unreachable(err: unknown): unknown {
  if (err instanceof StoreUnavailableError || !isUnreachable(err)) return err;
  return new StoreUnavailableError(`the PostgreSQL server cannot be reached: ${(err as Error).message}`, { cause: err });
}
