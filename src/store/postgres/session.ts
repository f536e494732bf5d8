/**
 * A PostgreSQL store's session: see Session. Inbound rows emitted by a store are stamped
 * with its session key, so that a store that opens emits again only the rows of stores
 * that are gone.
 */
import { randomInt } from 'node:crypto';
import { Client, type PoolConfig } from 'pg';
import { unreachable } from './faults';

/** First key of the two-key session locks (`pg_advisory_lock(SESSION_LOCK, session)`). */
export const SESSION_LOCK = 539_451_502;


/**
 * This store's session: a connection of its own holding `pg_advisory_lock(SESSION_LOCK,
 * key)` while the store is open. PostgreSQL drops the lock when the connection ends,
 * also when the process is killed, so "the lock is held" means "that store is alive".
 * If the connection is lost (a server restart), the lock is taken again at once, and
 * while the server is away every few seconds: until then a store that opens takes this
 * one's inbound rows for a dead store's and emits them again. The next inbound claim
 * takes it too, before it stamps rows.
 */
export class Session {
  private client: Client | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;
  private retake: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: PoolConfig,
    public key = randomInt(1, 2 ** 31 - 1),
  ) {}

  /** Makes sure the lock is held (after a lost connection, too). */
  async hold(): Promise<void> {
    if (this.client || this.closed) return;
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    try {
      await this.connecting;
    } catch (err) {
      throw unreachable(err);
    }
  }

  /** Takes the lock again after `delayMs`, and again later while that fails. */
  private holdAgain(delayMs: number): void {
    if (this.closed || this.retake) return;
    this.retake = setTimeout(() => {
      this.retake = undefined;
      this.hold().catch(() => this.holdAgain(Math.min(5000, Math.max(250, delayMs * 2))));
    }, delayMs);
    this.retake.unref();
  }

  private async connect(): Promise<void> {
    const client = new Client({ ...this.config, options: undefined });
    // The listener also keeps a broken connection's 'error' from ending the process.
    const lost = (): void => {
      if (this.client !== client) return;
      this.client = undefined;
      this.holdAgain(0);
    };
    client.on('error', lost);
    client.on('end', lost);
    await client.connect();
    try {
      // A key held by another store (chance 1 in 2^31 per store) is not ours: draw again.
      for (let tries = 0; ; tries++) {
        const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [SESSION_LOCK, this.key]);
        if (r.rows[0].ok) break;
        if (tries >= 10) throw new Error('could not take a session lock');
        this.key = randomInt(1, 2 ** 31 - 1);
      }
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retake);
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    // Unlocked before the connection ends, so that a store opened right after sees it gone.
    await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
