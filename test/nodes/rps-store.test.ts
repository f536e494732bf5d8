/**
 * rps-store (config): retention per status. The runtime's cleaner deletes rows older
 * than the store's "keep" days; 0 keeps rows of that status for ever.
 */
import assert from 'node:assert/strict';
import type { Cleaner } from '../../src/engine/cleaner';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import {
  FakeRemote,
  type FlowNode,
  guard,
  helper,
  type OutboundRecord,
  outboundRps,
  type Rps,
  setup,
  textOf,
  untilPast,
  useNodeRed,
  waitForCall,
} from './helper';

const DAY_MS = 24 * 60 * 60 * 1000;
/** About 0.09 s, in days. */
const KEEP_DAYS = 0.000001;

function rows(rps: Rps): OutboundRecord[] {
  return rps.query<OutboundRecord>('SELECT * FROM rps_outbound ORDER BY id');
}

describe('rps-store node', function () {
  useNodeRed();

  let remote: FakeRemote;
  beforeEach(async () => {
    // Takes every message but those with fields.bad.
    remote = new FakeRemote((request) => {
      if (request.method !== 'POST') return { status: 200 };
      const envelope = JSON.parse(request.body) as { messages: { id: string; fields: Record<string, unknown> }[] };
      return {
        status: 200,
        body: { results: envelope.messages.map((m) => (m.fields.bad ? { id: m.id, status: 'rejected', error: 'bad' } : { id: m.id, status: 'accepted' })) },
      };
    });
    await remote.listen();
  });
  afterEach(() => remote.close());

  /**
   * Queues INC0#1 (refused by the remote: `error`), INC0#2 (held behind it: `ready`)
   * and INC1 (delivered: `processed`), in that order.
   */
  async function threeRows(rps: Rps): Promise<Record<string, OutboundRecord>> {
    const rs = helper.getNode('rs') as RemoteSystemNode;
    const snd = rps.node('snd');
    const queued = rps.collect('queued');
    snd.receive({ payload: { number: 'INC0', bad: true }, rps: outboundRps('incident', 'INC0') });
    await waitForCall(rps.node('rs'), 'warn', (args) => textOf(args[0]).startsWith('rps-remote-system.warnings.failed'));
    const delivered = new Promise<void>((resolve) => rs.remote?.outbox.once('delivered', () => resolve()));
    snd.receive({ payload: { number: 'INC0' }, rps: outboundRps('incident', 'INC0') });
    await queued.wait(2);
    snd.receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
    await guard(delivered, 'INC1 delivered');
    const byName: Record<string, OutboundRecord> = {};
    for (const r of rows(rps)) byName[`${r.record_id}#${r.sequence}`] = r;
    assert.deepEqual(
      Object.entries(byName).map(([k, r]) => [k, r.status]),
      [
        ['INC0#1', 'error'],
        ['INC0#2', 'ready'],
        ['INC1#1', 'processed'],
      ],
    );
    return byName;
  }

  function cleanerOf(rps: Rps): Cleaner {
    const rs = helper.getNode('rs') as RemoteSystemNode;
    assert.ok(rs.store);
    const cleaner = rps.rt.cleanerOf(rs.store);
    assert.ok(cleaner, 'the runtime runs a cleaner for the store');
    return cleaner;
  }

  const flow = (): FlowNode[] => [
    { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['queued']] },
    { id: 'queued', type: 'helper' },
  ];

  it('the cleaner deletes processed rows older than "keep processed"; with "keep ready" 0 a ready row is never deleted', async () => {
    const rps = await setup(flow(), { url: remote.url, remote: { linger: '0' }, store: { keepProcessed: String(KEEP_DAYS), keepReady: '0' } });
    const queued = await threeRows(rps);
    const processedAt = queued['INC1#1'].processed_at;
    assert.ok(processedAt !== null);

    // Once the processed row is older than its retention (the others, queued first, are older still).
    await untilPast(processedAt + KEEP_DAYS * DAY_MS + 1);
    const purged = await cleanerOf(rps).run();
    assert.deepEqual(purged, { outbound: 1, inbound: 0, errorQueue: 0, undelivered: 0, more: false });
    assert.deepEqual(
      rows(rps).map((r) => [r.record_id, r.sequence, r.status]),
      [
        ['INC0', 1, 'error'],
        ['INC0', 2, 'ready'],
      ],
      'the processed row is gone; the message never delivered is kept, and so is the error (kept 30 days)',
    );
  });

  it('each status has its own retention: a ready row past "keep ready" is deleted, a processed row within "keep processed" is kept', async () => {
    const rps = await setup(flow(), { url: remote.url, remote: { linger: '0' }, store: { keepProcessed: '1', keepReady: String(KEEP_DAYS) } });
    const queued = await threeRows(rps);
    await untilPast(queued['INC0#2'].created_at + KEEP_DAYS * DAY_MS + 1);
    const purged = await cleanerOf(rps).run();
    assert.deepEqual(purged, { outbound: 1, inbound: 0, errorQueue: 0, undelivered: 1, more: false });
    assert.deepEqual(
      rows(rps).map((r) => [r.record_id, r.sequence, r.status]),
      [
        ['INC0', 1, 'error'],
        ['INC1', 1, 'processed'],
      ],
    );
  });

  it('field stamps go once older than both "keep ready" and "keep error" (no message that could conflict with them is left); kept while either keeps rows for ever', async () => {
    const captured = (): FlowNode[] => [{ id: 'cap', type: 'rps-capture', table: 'incident', idField: 'number', store: 'st', fieldTimes: true, wires: [['out']] }, { id: 'out', type: 'helper' }];
    const stamp = async (rps: Rps): Promise<number> => {
      const out = rps.collect('out');
      rps.node('cap').receive({ payload: { number: 'INC1', state: 'new' }, operation: 'insert' });
      await out.wait(1);
      const [written] = rps.query<{ written_at: number }>('SELECT written_at FROM rps_field_stamp');
      assert.ok(written, 'the change stamped its fields');
      return written.written_at;
    };
    const forever = await setup(captured(), { store: { keepReady: '0', keepError: String(KEEP_DAYS) } });
    await untilPast((await stamp(forever)) + KEEP_DAYS * DAY_MS + 1);
    await cleanerOf(forever).run();
    assert.equal(forever.query('SELECT * FROM rps_field_stamp').length, 2, 'kept: a ready row is kept for ever');
    await helper.unload();

    const rps = await setup(captured(), { store: { keepReady: String(KEEP_DAYS), keepError: String(KEEP_DAYS) } });
    await untilPast((await stamp(rps)) + KEEP_DAYS * DAY_MS + 1);
    await cleanerOf(rps).run();
    assert.deepEqual(rps.query('SELECT * FROM rps_field_stamp'), []);
  });
});
