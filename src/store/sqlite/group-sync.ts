/**
 * Group commit for SQLite in WAL mode. Commits run with synchronous = NORMAL: they are
 * written to the WAL (safe from a process crash) but not flushed to the disk. A commit
 * that promises something to someone else then waits for `flushed()`: one fdatasync of
 * the WAL file, run off the event loop, which makes durable every commit made before
 * it started. Commits made while a flush runs share the next one. With synchronous =
 * FULL each commit would block the event loop for its own fsync; here the flows keep
 * running while the disk catches up, and a busy store flushes once for many commits.
 *
 * Correctness rests on SQLite's WAL: a commit is durable once its WAL frames are on
 * disk, and a checkpoint (which may reset the WAL) first syncs the WAL and then the
 * database file, so a flush that comes after a checkpoint has nothing left to do.
 */
import { closeSync, fdatasync, openSync } from 'node:fs';

export class GroupSync {
  private fd: number | undefined;
  /** Waiting for the flush after the one in progress (their commits may be newer than it). */
  private next: { resolve(): void; reject(err: Error): void }[] = [];
  private flushing = false;
  /** Flushes started so far (each one serves every commit made before it). */
  flushes = 0;

  constructor(private readonly walPath: string) {}

  /** Resolves once every commit made before this call is on disk. */
  flushed(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.next.push({ resolve, reject });
      if (!this.flushing) this.flush();
    });
  }

  private flush(): void {
    const waiting = this.next;
    this.next = [];
    this.flushing = true;
    let fd: number;
    try {
      // Opened on first use: the WAL exists once the first commit has been written.
      fd = this.fd ??= openSync(this.walPath, 'r+');
    } catch (err) {
      this.settle(waiting, err as Error);
      return;
    }
    this.flushes += 1;
    fdatasync(fd, (err) => this.settle(waiting, err ?? undefined));
  }

  private settle(waiting: { resolve(): void; reject(err: Error): void }[], err: Error | undefined): void {
    this.flushing = false;
    for (const w of waiting) {
      if (err) w.reject(new Error(`the store could not be flushed to disk: ${err.message}`));
      else w.resolve();
    }
    if (this.next.length > 0) this.flush();
  }

  /** After the flush in progress, if any: its descriptor must not be closed (and reused) under it. */
  async close(): Promise<void> {
    if (this.flushing) await this.flushed().catch(() => undefined);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
