/**
 * The key that seals the secrets in our stores (engine/secrets.ts), from the secret
 * Node-RED encrypts its own credentials with. Which secret that is follows
 * @node-red/runtime/lib/nodes/credentials.js:
 *
 * - projects enabled with an active project: that project's credential secret (none:
 *   Node-RED keeps the credentials in clear);
 * - `credentialSecret` in settings.js: a string is the secret; `false` switches
 *   encryption off;
 * - otherwise the secret Node-RED generated on first start (`_credentialSecret` in the
 *   runtime settings, .config.runtime.json); none when it could not keep one.
 *
 * When a string credentialSecret is set while the generated one still exists, Node-RED
 * moves its credentials from the generated secret to the new one (and forgets the
 * generated one at the next deploy): values sealed with the generated one are opened
 * with it, and sealed again with the new one, so that this common step costs no grant.
 */
import { deriveSealKey, type SealKey } from '../core/seal';
import type { SealKeys } from '../engine/secrets';
import { common } from './common';
import type { NodeAPI } from './red';

export type CredentialSecret =
  | { kind: 'project' | 'user' | 'system'; secret: string; previous?: string }
  /** Node-RED keeps credentials in clear: credentialSecret false, a project without a secret, or no settings to keep a generated one. */
  | { kind: 'disabled'; previous?: string };

/** What the runtime settings give (RED.settings.get throws for a setting it cannot read yet). */
export interface SettingsReader {
  get?(name: string): unknown;
}

function setting(settings: SettingsReader, name: string): unknown {
  try {
    return settings.get?.(name);
  } catch {
    return undefined;
  }
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The credential secret of a project, when projects are enabled and one is active. */
function projectSecret(settings: SettingsReader): CredentialSecret | undefined {
  const theme = setting(settings, 'editorTheme') as { projects?: { enabled?: unknown } } | undefined;
  if (theme?.projects?.enabled !== true) return undefined;
  const projects = setting(settings, 'projects') as { activeProject?: unknown; projects?: Record<string, { credentialSecret?: unknown } | undefined> } | undefined;
  const active = nonEmpty(projects?.activeProject);
  if (!active) return undefined;
  const secret = nonEmpty(projects?.projects?.[active]?.credentialSecret);
  return secret ? { kind: 'project', secret } : { kind: 'disabled' };
}

export function credentialSecretOf(settings: SettingsReader): CredentialSecret {
  const project = projectSecret(settings);
  if (project) return project;
  const generated = nonEmpty(setting(settings, '_credentialSecret'));
  const user = setting(settings, 'credentialSecret');
  if (user === false) return generated ? { kind: 'disabled', previous: generated } : { kind: 'disabled' };
  if (typeof user === 'string') return generated && generated !== user ? { kind: 'user', secret: user, previous: generated } : { kind: 'user', secret: user };
  return generated ? { kind: 'system', secret: generated } : { kind: 'disabled' };
}

/** Keys by secret: derived once per process (scrypt takes tens of milliseconds). */
const derived = new Map<string, Promise<SealKey>>();

function derive(secret: string): Promise<SealKey> {
  let key = derived.get(secret);
  if (!key) {
    key = deriveSealKey(secret);
    derived.set(secret, key);
    key.catch(() => derived.delete(secret));
  }
  return key;
}

/**
 * Starts deriving the keys while Node-RED loads its nodes, so that they are ready when
 * the flows start: until then a remote system's inbound side answers 503 (starting).
 * (On the very first start Node-RED generates its secret only when it loads the flows.)
 */
export function prepareSealKeys(RED: NodeAPI): void {
  const found = credentialSecretOf(RED.settings);
  for (const secret of [found.kind === 'disabled' ? undefined : found.secret, found.previous]) {
    if (secret !== undefined) derive(secret).catch(() => undefined);
  }
}

/**
 * The seal keys of one Node-RED runtime, read from its settings at each use (a project
 * switch changes them). Says once, in the log, when the secrets are kept in clear;
 * never logs a secret or a key.
 */
export function sealKeysOf(RED: NodeAPI): () => Promise<SealKeys> {
  let warned = false;
  return async () => {
    const found = credentialSecretOf(RED.settings);
    if (found.kind === 'disabled' && !warned) {
      warned = true;
      RED.log.warn(common(RED, 'warnings.secrets-in-clear'));
    }
    return {
      current: found.kind === 'disabled' ? undefined : await derive(found.secret),
      previous: found.previous === undefined ? [] : [await derive(found.previous)],
    };
  };
}
