/**
 * 50 attachments of one record, one of them 200 MB, between two real Node-RED
 * processes, with the receiver killed (SIGKILL) in the middle of the large transfer and
 * the sender killed once after it: at the end B holds every file, complete and verified,
 * stored once; the large transfer resumed rather than starting again; and neither
 * process's memory came near the file's size (peak RSS, sampled every 50 ms, reported).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeRandomFile } from '../../tools/attachment-flows';
import { untilStores } from '../harness/pair';
import { AttachmentPair, folderHashes, RssSampler, storeRows } from '../harness/attachment-pair';

const MB = 1024 * 1024;
const BIG = 200 * MB;

describe('a 200 MB attachment through kills (real Node-RED processes)', function () {
  this.timeout(600_000);
  let pair: AttachmentPair | undefined;
  let root: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'rps-att-large-'));
  });

  after(async function () {
    await pair?.stopAfter(this.currentTest);
    rmSync(root, { recursive: true, force: true });
  });

  it('50 files, one of 200 MB, with B killed mid-transfer and A killed once: every file stored once, verified; memory stays flat', async () => {
    // A slow link (25 MB/s) from A to B, so that the large push is still going when each side is killed.
    const p = (pair = await AttachmentPair.start(root, {}, 25 * MB));
    const dir = join(root, 'A', 'big');
    mkdirSync(dir, { recursive: true });
    await writeRandomFile(join(dir, 'big.bin'), BIG);
    for (let i = 0; i < 49; i++) await writeRandomFile(join(dir, `small ${String(i).padStart(2, '0')}.bin`), [10, 1000, 50_000, 500_000, 2_000_000][i % 5]);
    const expected = await folderHashes(dir);
    // Each process's memory before the transfer, once the pair is up and idle: what the transfer may add to.
    const idle = new RssSampler({ A: () => p.a.pid, B: () => p.b.pid });
    idle.stop();
    const memory = new RssSampler({ A: () => p.a.pid, B: () => p.b.pid });

    assert.equal((await p.change('insert', { id: 'big', name: 'big', n: 1 }, dir)).status, 200);
    // The large file's bytes as they arrive on B (its staging file), and its row.
    const bigRow = (): { id: number; status: string } | undefined => storeRows<{ id: number; status: string }>(p.b, `SELECT id, status FROM rps_inbound_file WHERE size = ${BIG}`)[0];
    const staged = (): number => {
      const row = bigRow();
      try {
        return row ? statSync(join(p.b.userDir, 'rps-store.sqlite-attachments', 'in', String(row.id))).size : 0;
      } catch {
        return 0;
      }
    };

    await untilStores('40 MB of the large file on B', () => staged() > 40 * MB, 120_000);
    await p.b.kill();
    const atKill = staged();
    assert.ok(atKill < BIG, 'B was killed before the large file was complete');
    await p.b.launch();
    // Resumed: the file goes on from what B had, it does not start again from nothing.
    await untilStores('the large transfer going on after B came back', () => staged() > atKill + 20 * MB || bigRow()?.status !== 'requested', 120_000);
    const afterRestart = staged();
    assert.ok(afterRestart >= atKill, `the transfer resumed from ${atKill} bytes (B has ${afterRestart})`);

    const beforeA = staged();
    assert.ok(beforeA < BIG, 'A is killed before the large file is complete');
    await p.a.kill();
    await p.a.launch();
    await untilStores('the large transfer going on after A came back', () => staged() > beforeA + 10 * MB || bigRow()?.status !== 'requested', 120_000);
    assert.ok(staged() >= beforeA, 'and it resumed from what B had');

    await p.settled('every file on B', 300_000);
    memory.stop();
    const onB = await folderHashes(join(p.filesOnB, p.localOf('big')));
    assert.deepEqual(onB, expected, 'B has all 50 files, each complete and verified');
    const stored = storeRows<{ n: number; files: number }>(p.b, "SELECT count(*) AS n, count(DISTINCT file_name) AS files FROM rps_inbound_file WHERE status = 'stored'")[0];
    assert.deepEqual(stored, { n: 50, files: 50 }, 'each file stored once');
    console.log(`      peak RSS: A ${memory.peak.A} MB (${idle.peak.A} MB idle before), B ${memory.peak.B} MB (${idle.peak.B} MB idle before), for a ${BIG / MB} MB file (B killed at ${Math.round(atKill / MB)} MB)`);
    for (const side of ['A', 'B']) {
      const grew = memory.peak[side] - idle.peak[side];
      assert.ok(grew < (BIG / MB) * 0.25, `${side}'s memory grew by ${grew} MB during the transfer: well below the file's ${BIG / MB} MB`);
    }
  });
});
