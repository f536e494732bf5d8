/**
 * Small named values that must survive a restart: OAuth2 tokens we obtained (a rotated
 * refresh token exists nowhere else), remote-system states, signing keys.
 */
export interface StoredValue {
  key: string;
  value: string;
}

export interface ValueChange {
  key: string;
  /** The value it must still hold to be replaced. */
  expected: string;
  value: string;
}

export interface Values {
  read(key: string): Promise<string | undefined>;
  /** Sets (or, with undefined, deletes) a value; committed when the promise resolves. */
  write(key: string, value: string | undefined, now: number): Promise<void>;
  /** Sets the value only when it has none and returns the value stored: two processes agree on one. */
  init(key: string, value: string, now: number): Promise<string>;
  /** The values whose key starts with `prefix`, in key order. */
  list(prefix: string): Promise<StoredValue[]>;
  /**
   * Compare-and-set, in one transaction: sets each value that still holds `expected`;
   * one written meanwhile (a rotated token, another process's key) stays as it is.
   * Returns the keys that were set. What was replaced is not left readable in the
   * store's own files (SQLite overwrites it and empties its write-ahead log; PostgreSQL
   * keeps a dead row version, never dumped, until vacuum).
   */
  replace(changes: readonly ValueChange[], now: number): Promise<string[]>;
}
