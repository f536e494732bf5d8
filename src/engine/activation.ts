/**
 * Remote-system states that outlive a restart. A remote system set to activate
 * "after Validate and activate" starts `disabled` in both directions; the button
 * activates it, and that is remembered in the store (Node-RED cannot change a
 * deployed node's configuration from the runtime).
 */
import type { Store } from '../store/types';

export type Direction = 'outbound' | 'inbound';
export type Activation = Record<Direction, boolean>;

const key = (remoteSystem: string): string => `activation:${remoteSystem}`;

export async function loadActivation(store: Store, remoteSystem: string): Promise<Activation> {
  const text = await store.readValue(key(remoteSystem));
  let saved: Partial<Activation> = {};
  try {
    saved = text ? (JSON.parse(text) as Partial<Activation>) : {};
  } catch {
    // A value we cannot read activates nothing: the person validates again.
  }
  return { outbound: saved.outbound === true, inbound: saved.inbound === true };
}

export async function saveActivation(store: Store, remoteSystem: string, activation: Activation, now: number): Promise<void> {
  await store.writeValue(key(remoteSystem), JSON.stringify(activation), now);
}
