/**
 * The reasons the engine itself gives an outbound row that it puts back or sets to
 * `error`, and the answers it recognises that say more than their HTTP text (as opposed
 * to a remote's refusal text or a transport error, which are kept as they came). The
 * row stores a short code in its last error; whatever shows the row words the code in
 * the user's language (`rps-remote-system.reasons.<code>`). Pure.
 */

export const OUTBOUND_REASONS = Object.freeze(['stopped', 'rejected', 'unanswered', 'held', 'resent', 'no-endpoint', 'unrecorded'] as const);

/**
 * stopped: the sender stopped while the row was on its way (it goes back as it was).
 * rejected: the remote rejected the message without saying why.
 * unanswered: the remote's answer had no result for the message.
 * held: the row waits behind an earlier message of its record that failed.
 * resent: the row goes back to be sent again after a refused batch.
 * no-endpoint: the remote answered 404 without an rps/1 refusal (each of those has a
 *   code): nothing serves the rps/1 routes at its URL. A Node-RED with this package serves
 *   them only while one of its remote systems may call it (has an API user), and only
 *   under its httpNodeRoot.
 * unrecorded: the store failed while the remote's answer was being recorded; once it
 *   answers again the row is sent again (the remote answers `duplicate` if it had it).
 */
export type OutboundReason = (typeof OUTBOUND_REASONS)[number];

/** Words a reason code for a person. */
export type ReasonText = (code: OutboundReason) => string;

/**
 * The English texts that earlier versions stored instead of the codes: a row that
 * holds one still reads as its code, so it is shown in the user's language too.
 */
const LEGACY_TEXTS: Readonly<Record<string, OutboundReason>> = Object.freeze({
  'sender stopped': 'stopped',
  'rejected by the remote': 'rejected',
  'the remote did not answer for this message': 'unanswered',
  'held behind an earlier message of the record': 'held',
  'sent again after a refused batch': 'resent',
});

/** The reason code a stored last error stands for, or undefined when it is another text (a remote's, a transport's). */
export function reasonCode(stored: string): OutboundReason | undefined {
  if ((OUTBOUND_REASONS as readonly string[]).includes(stored)) return stored as OutboundReason;
  return Object.prototype.hasOwnProperty.call(LEGACY_TEXTS, stored) ? LEGACY_TEXTS[stored] : undefined;
}

/** A stored last error as a person reads it: a reason code (or its old English text) worded by `word`, any other text as it is. */
export function describeReason(stored: string, word: ReasonText | undefined): string {
  const code = reasonCode(stored);
  return code && word ? word(code) : stored;
}
