/**
 * What the origin and the receiver share with the AttachmentService that runs them: its
 * options, its clock, its stop, and where faults, file events and round requests go.
 */
import type { AttachmentEvents, AttachmentServiceOptions } from './attachments';

export interface AttachmentContext {
  readonly options: AttachmentServiceOptions;
  readonly now: () => number;
  /** Aborted when the service stops: calls in progress and waits end at once. */
  readonly signal: AbortSignal;
  stopped(): boolean;
  /** Something failed that nobody else is told of (not reported once stopping). */
  fault(err: unknown): void;
  /** A file was verified and staged, or refused / failed for good. */
  file(event: AttachmentEvents['file'][0]): void;
  /** Runs a round now (or right after the one running). */
  kick(): void;
}
