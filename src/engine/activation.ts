/**
 * Remote-system states that outlive a restart. A remote system set to activate
 * "after Validate and activate" starts `disabled` in both directions; the button
 * activates it, and that is remembered in the store (Node-RED cannot change a
 * deployed node's configuration from the runtime).
 */
import type { Store } from '../store/store';

export type Direction = 'outbound' | 'inbound';
export type Activation = Record<Direction, boolean>;

interface Saved extends Partial<Activation> {
  /** The settings that were validated: other settings (a new URL, say) must be validated again. */
  settings?: string;
}

const key = (remoteSystem: string): string => `activation:${remoteSystem}`;

/** What was activated with these settings (nothing, for other settings). */
export async function loadActivation(store: Store, remoteSystem: string, settings: string): Promise<Activation> {
  const text = await store.values.read(key(remoteSystem));
  let saved: Saved = {};
  try {
    saved = text ? (JSON.parse(text) as Saved) : {};
  } catch {
    // A value we cannot read activates nothing: the person validates again.
  }
  if (saved.settings !== settings) return { outbound: false, inbound: false };
  return { outbound: saved.outbound === true, inbound: saved.inbound === true };
}

export async function saveActivation(store: Store, remoteSystem: string, settings: string, activation: Activation, now: number): Promise<void> {
  const saved: Saved = { ...activation, settings };
  await store.values.write(key(remoteSystem), JSON.stringify(saved), now);
}
