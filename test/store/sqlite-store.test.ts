import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite';
import type { Store } from '../../src/store/types';
import { storeContract } from './store-contract';

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

  it('keeps what it acknowledged when the process is killed right after (SIGKILL)', async () => {
    const path = tempFile();
    // A child process enqueues, reports, and kills itself with SIGKILL: no close, no flush.
    const script = `
      const { SqliteStore } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'store', 'sqlite.js'))});
      const s = new SqliteStore(${JSON.stringify(path)});
      const drafts = Array.from({ length: 500 }, (_, i) => ({ remoteSystem: 'B', message: {
        id: 'm' + i, kind: 'change', processEvent: 'PE', source: { instanceId: 'x', table: 't', id: 'r' + (i % 50) },
        operation: 'update', capturedAt: new Date().toISOString(), interactive: true, fields: { i }, changedFields: ['i'], journal: [], attachments: [] } }));
      s.enqueueOutbound(drafts, Date.now()).then(() => { process.stdout.write('acknowledged'); process.kill(process.pid, 'SIGKILL'); });
    `;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(child.signal, 'SIGKILL');
    assert.equal(child.stdout, 'acknowledged');
    const store = new SqliteStore(path);
    try {
      assert.equal((await store.countOutbound('B')).ready, 500);
    } finally {
      await store.close();
    }
  });
});
