/**
 * GroupSync: the SQLite store's group commit. Commits that wait for the disk at the
 * same moment share one flush of the WAL, and a flush that cannot be made is an error
 * of every commit that waited for it (rps-send and the receiver report it; nothing is
 * answered as accepted).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changeDraft } from '../../src/core/message';
import { GroupSync } from '../../src/store/sqlite/group-sync';
import { SqliteStore } from '../../src/store/sqlite';

describe('GroupSync (SQLite group commit)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rps-group-sync-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('commits that wait together share a flush, and each is on disk when its promise resolves', async () => {
    const path = join(dir, 'store.sqlite');
    const store = new SqliteStore(path);
    try {
      const sync = (store as unknown as { s: { sync: GroupSync } }).s.sync;
      const before = sync.flushes;
      const draft = (i: number) =>
        changeDraft({ id: `m${i}`, processEvent: 'E', instanceId: store.instanceId, table: 'item', recordId: `r${i % 10}`, operation: 'update', capturedAt: new Date(0).toISOString(), interactive: true, fields: { n: i }, changedFields: ['n'] });
      const queued = await Promise.all(Array.from({ length: 100 }, (_, i) => store.outbound.enqueue([{ remoteSystem: 'B', message: draft(i) }], i)));
      assert.equal(queued.length, 100);
      const used = sync.flushes - before;
      assert.ok(used >= 1 && used <= 2, `100 commits made at once were flushed ${used} time(s): the first flush, and one for all that came while it ran`);
      assert.deepEqual(
        queued.slice(0, 10).map((q) => q[0].sequence),
        Array(10).fill(1),
      );
    } finally {
      await store.close();
    }
  });

  it('a flush that cannot be made rejects every commit that waited for it, with the reason', async () => {
    const sync = new GroupSync(join(dir, 'missing', 'store.sqlite-wal'));
    const waits = [sync.flushed(), sync.flushed()];
    for (const w of waits) await assert.rejects(w, /could not be flushed to disk: ENOENT/);
    await sync.close();
  });
});
