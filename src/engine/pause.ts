/**
 * A remote system paused by an operator (the monitor's admin API): nothing is sent to
 * it and nothing it sent is emitted into the inbound flows, while rows keep queueing in
 * both directions. Remembered in the store (`paused:<remote-system node id>`), so that a
 * restart or a redeploy keeps it paused; independent of the activation and its settings
 * fingerprint, since a settings change is no reason to send again.
 */
import type { Store } from '../store/store';

const key = (remoteSystem: string): string => `paused:${remoteSystem}`;

interface Saved {
  paused: boolean;
  /** When it was paused or resumed (ms since the epoch), for whoever reads the store. */
  at: number;
}

/**
 * Whether the remote system was left paused. No value: not paused. A value that cannot be
 * parsed counts as paused: a pause must not be lost to a damaged value, and resuming is
 * one call away. A store that cannot be read throws (the caller waits and reads again).
 */
export async function loadPaused(store: Store, remoteSystem: string): Promise<boolean> {
  const text = await store.values.read(key(remoteSystem));
  if (text === undefined) return false;
  try {
    return (JSON.parse(text) as Partial<Saved>).paused !== false;
  } catch {
    return true;
  }
}

/** Committed when it resolves; a resume deletes the value (no value means not paused). */
export async function savePaused(store: Store, remoteSystem: string, paused: boolean, now: number): Promise<void> {
  const saved: Saved = { paused, at: now };
  await store.values.write(key(remoteSystem), paused ? JSON.stringify(saved) : undefined, now);
}
