/**
 * What the origin and the receiver share with the AttachmentService that runs them: its
 * options, its clock, its stop, and where faults, file events and round requests go.
 */
import type { BackoffPolicy } from '../core/backoff';
import type { Store } from '../store/store';
import type { AttachmentStaging } from './attachment-staging';
import type { RemoteSystem } from './remote';
import type { StoreSecrets } from './secrets';

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

export interface AttachmentServiceOptions {
  store: Store;
  staging: AttachmentStaging;
  secrets: StoreSecrets;
  /** The link key of a remote system (config node id), once read from the store. */
  keyFor(remoteSystem: string): Promise<string>;
  /** The remote systems of this runtime that can call their remote (config node id → sender). */
  remotes(): ReadonlyMap<string, RemoteSystem>;
  /** Whether the inbound side of a remote system is held (paused). */
  inboundHeld(remoteSystem: string): boolean;
  /** Tries of a file (pulls, then flow attempts) before it stays in error. */
  maxTries?: number;
  pullDeadlineMs?: number;
  pollMs?: number;
  /** How long a failed file waits before it is tried again (default: 5 s doubling to 10 min). */
  retryBackoff?: BackoffPolicy;
  /** How long a flow may take to end a file it was handed (complete) before it is handed again. */
  flowTimeoutMs?: number;
  /** How long stored and refused inbound files are remembered. */
  keepMs?: number;
  now?: () => number;
}

export interface AttachmentEvents {
  /** Something failed that nobody else is told of (a store outage, a remote that cannot be reached). */
  fault: [error: Error];
  /** A file was verified and staged, or refused / failed for good: the monitor and the node statuses listen. */
  file: [file: { id: number; status: 'staged' | 'stored' | 'error' | 'refused'; error?: string }];
}
