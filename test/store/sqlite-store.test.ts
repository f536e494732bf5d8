import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite';
import type { Store } from '../../src/store/store';
import { draft, storeContract } from './contract';

function tempFile(): string {
  return join(mkdtempSync(join(tmpdir(), 'rps-store-')), 'store.sqlite');
}

storeContract('SQLite', {
  async create() {
    return new SqliteStore(tempFile());
  },
  async reopen(store: Store) {
    const path = (store as SqliteStore).path;
    await store.close();
    return new SqliteStore(path);
  },
});

describe('SQLite store specifics', () => {
  it('creates the file and its folder on first use, and reopening applies no migration twice', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'rps-store-')), 'nested', 'dir', 'store.sqlite');
    const first = new SqliteStore(path);
    const id = first.instanceId;
    await first.close();
    const second = new SqliteStore(path);
    assert.equal(second.instanceId, id);
    await second.close();
  });

  it('leaves no copy of a replaced value in the database file or its write-ahead log', async () => {
    const path = tempFile();
    const files = (): Buffer => Buffer.concat([path, `${path}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    // One value already in the database file (written, then closed: checkpointed), one
    // still in the write-ahead log, one long enough to take overflow pages.
    const pieces = Array.from({ length: 150 }, (_, i) => `piece-${i}-of-a-long-one;`);
    const clear = { old: 'clear-in-db-file-7Hq2', fresh: 'clear-in-wal-9Ks4', long: pieces.join('') };
    // A value spread over overflow pages is not contiguous in the file: its pieces are looked for.
    const found = (key: string, text: string): boolean => (key === 'long' ? pieces.some((p) => files().includes(p)) : files().includes(text));
    let store = new SqliteStore(path);
    await store.values.write('old', clear.old, 1);
    await store.values.write('long', clear.long, 1);
    await store.close();
    store = new SqliteStore(path);
    await store.values.write('fresh', clear.fresh, 1);
    await store.outbound.enqueue([{ remoteSystem: 'B', message: draft('t', '1') }], 1);
    for (const [key, text] of Object.entries(clear)) assert.ok(found(key, text), `${key} is in the files before`);
    const replaced = await store.values.replace(
      Object.entries(clear).map(([key, text]) => ({ key, expected: text, value: `sealed ${key}` })),
      2,
    );
    assert.equal(replaced.length, 3);
    for (const [key, text] of Object.entries(clear)) assert.ok(!found(key, text), `${key}: no copy left while open`);
    assert.equal(await store.values.read('long'), 'sealed long');
    assert.equal((await store.outbound.count('B')).ready, 1);
    await store.close();
    for (const [key, text] of Object.entries(clear)) assert.ok(!found(key, text), `${key}: no copy left after close`);
  });

  it('keeps what it acknowledged when the process is killed right after (SIGKILL)', async () => {
    const path = tempFile();
    // A child process enqueues, reports, and kills itself with SIGKILL: no close, no flush.
    const script = `
      const { SqliteStore } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'store', 'sqlite', 'index.js'))});
      const s = new SqliteStore(${JSON.stringify(path)});
      const drafts = Array.from({ length: 500 }, (_, i) => ({ remoteSystem: 'B', message: {
        id: 'm' + i, kind: 'change', processEvent: 'PE', source: { instanceId: 'x', table: 't', id: 'r' + (i % 50) },
        operation: 'update', capturedAt: new Date().toISOString(), interactive: true, fields: { i }, changedFields: ['i'], journal: [], attachments: [] } }));
      s.outbound.enqueue(drafts, Date.now()).then(() => { process.stdout.write('acknowledged'); process.kill(process.pid, 'SIGKILL'); });
    `;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(child.signal, 'SIGKILL');
    assert.equal(child.stdout, 'acknowledged');
    const store = new SqliteStore(path);
    try {
      assert.equal((await store.outbound.count('B')).ready, 500);
    } finally {
      await store.close();
    }
  });
});
