/**
 * What the monitor shows of a queued payload: the message as it was sent, with the
 * values of fields whose names say they hold a secret replaced, and cut to a size a
 * list can show. A payload is a record's fields, so a "password" or "api_key" field of
 * the user's record would otherwise be on the operator's screen.
 */

/** Field names whose values are never shown. */
const SECRET_NAME = /pass(word|wd)?|secret|token|authori[sz]ation|api[-_ ]?key|credential|private[-_ ]?key|cookie|session/i;

export const MASK = '••••••';

/** A copy of `value` with the values of secret-named members masked, at any depth. */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_NAME.test(k) && v !== null && v !== '' ? MASK : maskSecrets(v);
  return out;
}

/**
 * The payload text (JSON) masked and cut to `maxChars`; text that is not JSON is not
 * shown at all (it cannot be masked), only its length.
 */
export function maskedPayload(text: string, maxChars = 4000): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `(${text.length} characters, not JSON)`;
  }
  const shown = JSON.stringify(maskSecrets(parsed), null, 1);
  return shown.length > maxChars ? `${shown.slice(0, maxChars)}…` : shown;
}
