/**
 * The secrets the store holds: the OAuth2 tokens we obtained from remotes (a rotated
 * refresh token exists nowhere else) and the key that signs the access tokens our
 * /rps/v1/token issues. They are sealed (core/seal) with a key derived from Node-RED's
 * credential secret, so that a copy of the store, a backup or a database dump holds no
 * usable token or key. Processes that share a PostgreSQL store share their flows, and
 * so that secret.
 *
 * - A value that does not open (the credential secret changed, or it was altered) is
 *   treated as absent: a token is obtained again (a new grant), the signing key is made
 *   anew. Nothing else depends on them: no queued message is lost.
 * - Values in clear (written by a version before sealing, or while sealing was off) are
 *   read as they are, and sealed once the store is open (sealAll), by compare-and-set:
 *   a value written meanwhile is never overwritten with an older one.
 * - With no key (Node-RED's `credentialSecret: false`), values are kept in clear, as
 *   Node-RED then keeps its own credentials.
 */
import { isSealed, seal, type SealKey, unseal } from '../core/seal';
import type { Store, ValueChange } from '../store/store';
import type { TokenPersistence } from '../transport/oauth';

/** The key that signs the access tokens we issue. */
export const SIGNING_KEY = 'token-signing-key';
/** The key that seals the synthetic keys of the attachments we send (engine/attachments.ts). */
export const ATTACHMENT_KEY_SECRET = 'attachment-key-secret';
const OAUTH_TOKEN = 'oauth-token:';
/** Every value whose name starts with one of these is a secret. */
const SECRET_NAMES = [OAUTH_TOKEN, SIGNING_KEY, ATTACHMENT_KEY_SECRET] as const;

/** Where the OAuth2 token we hold for calling a remote system is kept. */
export function oauthTokenName(remoteSystem: string): string {
  return `${OAUTH_TOKEN}${remoteSystem}`;
}

export interface SealKeys {
  /** Seals what is written; undefined keeps it in clear. */
  current: SealKey | undefined;
  /** Open what an earlier credential secret sealed (to be sealed again with the current one). */
  previous: readonly SealKey[];
}

export interface SecretEvents {
  /** A stored secret does not open: it is treated as absent. Told once per stored value; never given the value. */
  unreadable?(store: Store, name: string): void;
}

/** How many times init() tries when other processes keep replacing the value it read. */
const INIT_ATTEMPTS = 3;

export class StoreSecrets {
  /** The sealed texts already reported unreadable, per store: a value read again is not reported again. */
  private readonly reported = new WeakMap<Store, Set<string>>();

  constructor(
    private readonly keys: () => Promise<SealKeys>,
    private readonly events: SecretEvents = {},
  ) {}

  /** Secrets kept in clear: for the engine's own tests, which have no Node-RED credential secret. */
  static clear(): StoreSecrets {
    return new StoreSecrets(async () => ({ current: undefined, previous: [] }));
  }

  async read(store: Store, name: string): Promise<string | undefined> {
    const text = await store.values.read(name);
    return text === undefined ? undefined : this.open(store, name, text, await this.keys());
  }

  /** Sets (or, with undefined, deletes) a secret. */
  async write(store: Store, name: string, value: string | undefined, now: number): Promise<void> {
    const keys = await this.keys();
    await store.values.write(name, value === undefined ? undefined : this.close(name, value, keys), now);
  }

  /**
   * The secret under `name`; made with `make` and stored when there is none, or when the
   * one stored does not open. Every process that shares the store gets the same value:
   * the first to store (or replace) it wins, and the others read it.
   */
  async init(store: Store, name: string, make: () => string, now: number): Promise<string> {
    const keys = await this.keys();
    const fresh = make();
    const mine = this.close(name, fresh, keys);
    for (let attempt = 0; attempt < INIT_ATTEMPTS; attempt++) {
      const stored = await store.values.init(name, mine, now);
      if (stored === mine) return fresh;
      const opened = this.open(store, name, stored, keys);
      if (opened !== undefined) return opened;
      // Replaced only if it still holds what did not open: another process may have been first.
      const replaced = await store.values.replace([{ key: name, expected: stored, value: mine }], now);
      if (replaced.length === 1) return fresh;
    }
    throw new Error(`the stored ${name} keeps being replaced by a process with another credential secret`);
  }

  /**
   * Seals the secrets found in clear, and seals again with the current key those an
   * earlier key sealed (or, without a key, writes them in clear), in one transaction;
   * returns how many were rewritten. Values that do not open are left as they are
   * (they are replaced when next written). Safe to run at every open, by several
   * processes at once, and after a crash in the middle.
   */
  async sealAll(store: Store, now: number): Promise<number> {
    const keys = await this.keys();
    const changes: ValueChange[] = [];
    for (const prefix of SECRET_NAMES) {
      for (const { key, value } of await store.values.list(prefix)) {
        const rewritten = this.rewrite(store, key, value, keys);
        if (rewritten !== undefined) changes.push({ key, expected: value, value: rewritten });
      }
    }
    return (await store.values.replace(changes, now)).length;
  }

  /** What `text` should be stored as with the current key, or undefined when it is right as it is (or cannot be opened). */
  private rewrite(store: Store, name: string, text: string, keys: SealKeys): string | undefined {
    if (!isSealed(text)) return keys.current ? seal(keys.current, name, text) : undefined;
    if (keys.current && unseal(keys.current, name, text) !== undefined) return undefined;
    const value = this.open(store, name, text, keys);
    return value === undefined ? undefined : this.close(name, value, keys);
  }

  private close(name: string, value: string, keys: SealKeys): string {
    return keys.current ? seal(keys.current, name, value) : value;
  }

  private open(store: Store, name: string, text: string, keys: SealKeys): string | undefined {
    // In clear: written before sealing, or while it was off.
    if (!isSealed(text)) return text;
    for (const key of [keys.current, ...keys.previous]) {
      const value = key ? unseal(key, name, text) : undefined;
      if (value !== undefined) return value;
    }
    this.report(store, name, text);
    return undefined;
  }

  private report(store: Store, name: string, text: string): void {
    let seen = this.reported.get(store);
    if (!seen) this.reported.set(store, (seen = new Set()));
    if (seen.has(text)) return;
    seen.add(text);
    this.events.unreadable?.(store, name);
  }
}

/** Where an OAuth2 token source keeps the token it holds for one remote system: sealed, in the store. */
export function heldTokenPersistence(secrets: StoreSecrets, store: Store, remoteSystem: string): TokenPersistence {
  const name = oauthTokenName(remoteSystem);
  return {
    load: () => secrets.read(store, name),
    save: (value) => secrets.write(store, name, value, Date.now()),
  };
}
