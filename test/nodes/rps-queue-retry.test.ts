/**
 * rps-queue-retry: on its schedule it moves `error` rows of the outbound or inbound
 * queue back to `ready` while they have retries left; msg.action reprocesses or skips
 * chosen rows; and any other message wired in (e.g. from a Catch node) is held in a
 * durable error queue and emitted again on output 2 until it goes through or has had
 * its retries.
 */
import assert from 'node:assert/strict';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import {
  callsOf,
  caughtError,
  caughtFrom,
  change,
  type Collector,
  envelopeIds,
  type ErrorQueueRecord,
  FakeRemote,
  type FlowNode,
  guard,
  helper,
  type InboundRecord,
  isStatus,
  type Msg,
  type OutboundRecord,
  outboundRps,
  type Rps,
  renderParams,
  rpsOf,
  setup,
  TAB,
  textOf,
  untilPast,
  useNodeRed,
  waitForCall,
  waitForCount,
} from './helper';

/** Quick retries, so that a message the remote does not take reaches `error` in a few ms; no probe during a test. */
const QUICK = { retryDelay: '0.01', retryMaxDelay: '0.05', maxTries: '2', probeInterval: '3600', linger: '0' };

/**
 * qr (queue retry) → result (output 1), retried (output 2); a Complete node passes on
 * to 'handled' each message qr has finished with (held, or acted on) without an error.
 */
function queueRetry(props: Record<string, unknown>): FlowNode[] {
  return [
    { id: 'qr', type: 'rps-queue-retry', store: 'st', wires: [['result'], ['retried']], ...props },
    { id: 'result', type: 'helper' },
    { id: 'retried', type: 'helper' },
    { id: 'qr-done', type: 'complete', scope: ['qr'], uncaught: false, wires: [['handled']] },
    { id: 'handled', type: 'helper' },
  ];
}

/** snd → queued */
function sendNodes(): FlowNode[] {
  return [
    { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['queued']] },
    { id: 'queued', type: 'helper' },
  ];
}

function outboundRows(rps: Rps): OutboundRecord[] {
  return rps.query<OutboundRecord>('SELECT * FROM rps_outbound ORDER BY id');
}

function outboundRow(rps: Rps, recordId: string, sequence = 1): OutboundRecord {
  const [row] = rps.query<OutboundRecord>('SELECT * FROM rps_outbound WHERE record_id = ? AND sequence = ?', recordId, sequence);
  assert.ok(row, `outbound row of ${recordId}#${sequence}`);
  return row;
}

function inboundRow(rps: Rps, messageId: string): InboundRecord {
  const [row] = rps.query<InboundRecord>('SELECT * FROM rps_inbound WHERE message_id = ?', messageId);
  assert.ok(row, `inbound row of ${messageId}`);
  return row;
}

function heldItems(rps: Rps): ErrorQueueRecord[] {
  return rps.query<ErrorQueueRecord>('SELECT * FROM rps_error_queue ORDER BY id');
}

/** The rows' delivery bookkeeping, for assertion messages. */
function bookkeeping(r: OutboundRecord): string {
  return JSON.stringify({ status: r.status, kind: r.error_kind, tries: r.tries, retries: r.retries, attempts: r.attempts });
}

/** The remote system 'rs' warned that messages went to error. */
const isFailedWarning = (args: unknown[]): boolean => textOf(args[0]).startsWith('rps-remote-system.warnings.failed');

/** Sends `msg` into the queue retry node and waits for its answer on output 1. */
async function act(rps: Rps, result: Collector, msg: Msg): Promise<Msg> {
  const before = result.msgs.length;
  rps.node('qr').receive(msg);
  const all = await result.wait(before + 1);
  return all[before];
}

/** Hands `msg` to the queue retry node (as a Catch node would) and waits until it has held it. */
async function hold(rps: Rps, handled: Collector, msg: Msg): Promise<void> {
  const before = handled.msgs.length;
  rps.node('qr').receive(msg);
  await handled.wait(before + 1);
}

/** The messages the queue retry node emitted on output 2 (its spy sees them even before a collector is attached). */
function resentBy(node: ReturnType<Rps['node']>): Msg[] {
  return callsOf(node, 'send')
    .map((args) => (args[0] as (Msg | null)[])[1])
    .filter((m): m is Msg => m !== null && m !== undefined);
}

/** "record#sequence" of an emitted inbound message. */
function key(msg: Msg): string {
  const r = rpsOf(msg);
  return `${(r.source as { id: string }).id}#${String(r.sequence)}`;
}

describe('rps-queue-retry node', function () {
  useNodeRed();

  describe('outbound schedule', () => {
    it('a message the remote never takes ends in error (connection); the schedule leaves it to the remote system\'s probe', async () => {
      const rps = await setup(sendNodes(), { remote: QUICK });
      const rs = rps.node('rs');
      rps.node('snd').receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
      await waitForCount(rs, 'warn', isFailedWarning, 1);
      let row = outboundRow(rps, 'INC1');
      assert.equal(row.status, 'error', bookkeeping(row));
      assert.equal(row.error_kind, 'connection');
      assert.equal(row.tries, 2, 'maxTries quick attempts');
      assert.equal(row.attempts, 2);
      assert.equal(row.retries, 0);
      assert.match(row.last_error ?? '', /ECONNREFUSED/);

      // A queue retry is deployed next to it; its schedule runs at once. Without its Complete
      // node: only node types of the first load can be deployed in the test helper.
      const added = queueRetry({ queue: 'outbound', interval: '3600', maxRetries: '2' }).filter((n) => n.type !== 'complete' && n.id !== 'handled');
      await rps.redeploy((flow) => {
        flow.push(...added.map((n) => ({ z: TAB, x: 0, y: 0, ...n })));
      });
      const result = rps.collect('result');
      const answer = await act(rps, result, { action: 'retry' });
      assert.deepEqual(answer.payload, { action: 'retry', queue: 'outbound', ids: [], resent: 0 });
      row = outboundRow(rps, 'INC1');
      assert.deepEqual([row.status, row.error_kind, row.retries], ['error', 'connection', 0], bookkeeping(row));
    });
  });

  describe('actions', () => {
    let remote: FakeRemote;
    /** Whether the remote refuses a message (status "rejected" in its results), by its fields. */
    let refuse: (fields: Record<string, unknown>) => boolean;
    beforeEach(async () => {
      refuse = () => false;
      remote = new FakeRemote((request) => {
        if (request.method === 'GET') return { status: 200 };
        const envelope = JSON.parse(request.body) as { messages: { id: string; fields: Record<string, unknown> }[] };
        return {
          status: 200,
          body: {
            results: envelope.messages.map((m) =>
              refuse(m.fields) ? { id: m.id, status: 'rejected', error: 'no such category' } : { id: m.id, status: 'accepted' },
            ),
          },
        };
      });
      await remote.listen();
    });
    afterEach(() => remote.close());

    /** A send node on 'rs' (the fake remote) and a queue retry whose schedule does not run during the test. */
    async function actionsSetup(): Promise<Rps> {
      return setup([...sendNodes(), ...queueRetry({ queue: 'outbound', interval: '3600', maxRetries: '2' })], { url: remote.url, remote: QUICK });
    }

    /** Sends a change of `recordId` through rps-send and resolves with its message id once it is queued. */
    async function sendChange(rps: Rps, recordId: string, fields: Record<string, unknown>): Promise<string> {
      const queued = rps.collect('queued');
      rps.node('snd').receive({ payload: { number: recordId, ...fields }, rps: outboundRps('incident', recordId) });
      const [msg] = await queued.wait(1);
      return (rpsOf(msg).queued as { messageId: string }).messageId;
    }

    it('a message the remote refuses (kind refused) is re-queued by the schedule until its retries are used, then stays in error', async () => {
      refuse = (fields) => fields.category === 'bogus';
      const rps = await setup([...sendNodes(), ...queueRetry({ queue: 'outbound', interval: '0.1', maxRetries: '2' })], { url: remote.url, remote: QUICK });
      const rs = rps.node('rs');
      rps.node('snd').receive({ payload: { number: 'INC9', category: 'bogus' }, rps: outboundRps('incident', 'INC9') });
      // Refused at first, and again after each of the two retries the schedule gives it.
      await waitForCount(rs, 'warn', isFailedWarning, 3);
      const result = rps.collect('result');
      const answer = await act(rps, result, { action: 'retry' });
      assert.deepEqual(answer.payload, { action: 'retry', queue: 'outbound', ids: [], resent: 0 }, 'no retries left');
      const row = outboundRow(rps, 'INC9');
      assert.deepEqual([row.status, row.error_kind, row.retries], ['error', 'refused', 2], bookkeeping(row));
      assert.match(row.last_error ?? '', /no such category/);
    });

    it("'reprocess' with msg.ids puts an error row back to ready: it is sent again and delivered; output 1 says what was done", async () => {
      const rps = await actionsSetup();
      const result = rps.collect('result');
      refuse = () => true;
      await sendChange(rps, 'INC1', { category: 'none' });
      await waitForCount(rps.node('rs'), 'warn', isFailedWarning, 1);
      const failed = outboundRow(rps, 'INC1');
      assert.equal(failed.status, 'error');
      assert.equal(failed.error_kind, 'refused');
      assert.equal(failed.last_error, 'no such category');

      // The remote has been fixed; an operator reprocesses the row.
      refuse = () => false;
      const rs = helper.getNode('rs') as RemoteSystemNode;
      const delivered = new Promise<void>((resolve) => rs.remote?.outbox.once('delivered', () => resolve()));
      const answer = await act(rps, result, { action: 'reprocess', ids: [failed.id] });
      assert.deepEqual(answer.payload, { action: 'reprocess', queue: 'outbound', ids: [failed.id], resent: 0 });
      await guard(delivered, 'the reprocessed row is delivered');
      const row = outboundRow(rps, 'INC1');
      assert.equal(row.status, 'processed', bookkeeping(row));
      assert.equal(row.retries, 1, 'a reprocess counts as a retry');
      assert.equal(remote.requests.filter((r) => envelopeIds(r).includes(failed.message_id)).length, 2);
    });

    it("'skip' with msg.ids: the row is skipped and no longer holds back the later changes of its record", async () => {
      const rps = await actionsSetup();
      const result = rps.collect('result');
      refuse = (fields) => fields.category === 'none';
      await sendChange(rps, 'INC1', { category: 'none' });
      await waitForCount(rps.node('rs'), 'warn', isFailedWarning, 1);
      const first = outboundRow(rps, 'INC1', 1);
      assert.equal(first.status, 'error');

      // INC1#2 waits behind the error; INC2, queued after it, goes.
      await sendChange(rps, 'INC1', { category: 'printer' });
      const inc2 = await sendChange(rps, 'INC2', { category: 'printer' });
      await remote.waitFor((r) => envelopeIds(r).includes(inc2), 'with INC2');
      const second = outboundRow(rps, 'INC1', 2);
      assert.equal(second.status, 'ready', 'INC1#2 is held behind INC1#1 in error');
      assert.ok(!remote.requests.some((r) => envelopeIds(r).includes(second.message_id)), 'INC1#2 was not sent');

      const answer = await act(rps, result, { action: 'skip', ids: [first.id] });
      assert.deepEqual(answer.payload, { action: 'skip', queue: 'outbound', ids: [first.id], resent: 0 });
      assert.equal(outboundRow(rps, 'INC1', 1).status, 'skipped');
      await remote.waitFor((r) => envelopeIds(r).includes(second.message_id), 'with INC1#2 after the skip');
      assert.equal(remote.requests.filter((r) => envelopeIds(r).includes(first.message_id)).length, 1, 'the skipped row is not sent again');
    });

    it('an unknown msg.action is an error (to Catch, red status); nothing is held or changed', async () => {
      const rps = await actionsSetup();
      const result = rps.collect('result');
      rps.node('qr').receive({ action: 'delete-everything', payload: 'x' });
      const [caught] = await rps.caught.wait(1);
      assert.equal(caughtError(caught), 'rps-queue-retry.errors.action');
      assert.equal(caughtFrom(caught), 'qr');
      assert.ok(callsOf(rps.node('qr'), 'status').some((args) => isStatus(args, 'red', 'rps-queue-retry.errors.action')));
      assert.equal(result.msgs.length, 0);
      assert.equal(heldItems(rps).length, 0, 'a message with an action is not held');
    });

    for (const ids of [['abc'], [0], [-3], [1.5], 'seven', [null]]) {
      it(`msg.ids ${JSON.stringify(ids)} is an error (to Catch); nothing is skipped`, async () => {
        const rps = await actionsSetup();
        const result = rps.collect('result');
        refuse = () => true;
        await sendChange(rps, 'INC1', { category: 'none' });
        await waitForCount(rps.node('rs'), 'warn', isFailedWarning, 1);
        rps.node('qr').receive({ action: 'skip', ids });
        const [caught] = await rps.caught.wait(1);
        assert.equal(caughtError(caught), 'rps-queue-retry.errors.ids');
        assert.equal(caughtFrom(caught), 'qr');
        assert.equal(result.msgs.length, 0);
        assert.deepEqual(
          outboundRows(rps).map((r) => r.status),
          ['error'],
        );
        assert.equal(heldItems(rps).length, 0);
      });
    }
  });

  describe('inbound queue', () => {
    /** in → out; cp (complete) → done; and a queue retry of the inbound queue. */
    function inboundFlow(retry: Record<string, unknown>): FlowNode[] {
      return [
        // The default gap wait (30 s): a test that had to wait for it would time out.
        { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', timeout: '60', gapWait: '30', wires: [['out']] },
        { id: 'out', type: 'helper' },
        { id: 'cp', type: 'rps-complete', localTable: 'incident', wires: [['done']] },
        { id: 'done', type: 'helper' },
        ...queueRetry({ queue: 'inbound', ...retry }),
      ];
    }

    /** Completes `msg` with the error a Catch node would give it. */
    async function fail(rps: Rps, done: Collector, msg: Msg, message: string): Promise<void> {
      const before = done.msgs.length;
      rps.node('cp').receive({ ...msg, error: { message, source: { id: 'write', type: 'http request' } } });
      await done.wait(before + 1);
    }

    it('a message whose flow failed is emitted again by the schedule (attempt 2, redelivered) until its retries are used', async () => {
      // Only the rows of this remote system and process event.
      const rps = await setup(inboundFlow({ remoteSystem: 'rs', processEvent: 'pe', interval: '0.1', maxRetries: '2' }));
      renderParams(rps.red);
      const out = rps.collect('out');
      const done = rps.collect('done');
      const m = change({ recordId: 'C-1', sequence: 1 });
      await rps.receive(m);
      const [first] = await out.wait(1);
      assert.equal(rpsOf(first).attempt, 1);
      await fail(rps, done, first, 'local API said no (1)');

      const [, second] = await out.wait(2);
      assert.equal(rpsOf(second).messageId, m.id);
      assert.equal(rpsOf(second).attempt, 2);
      assert.equal(rpsOf(second).redelivered, true);
      assert.deepEqual(second.payload, m.fields);
      assert.equal(inboundRow(rps, m.id).retries, 1);
      await fail(rps, done, second, 'local API said no (2)');

      const [, , third] = await out.wait(3);
      assert.equal(rpsOf(third).attempt, 3);
      await fail(rps, done, third, 'local API said no (3)');

      // Retries used: the schedule leaves it in error.
      const result = rps.collect('result');
      const answer = await act(rps, result, { action: 'retry' });
      assert.deepEqual(answer.payload, { action: 'retry', queue: 'inbound', ids: [], resent: 0 });
      const row = inboundRow(rps, m.id);
      assert.equal(row.status, 'error');
      assert.equal(row.error_kind, 'flow');
      assert.equal(row.last_error, 'local API said no (3)');
      assert.equal(row.retries, 2);
      assert.equal(out.msgs.length, 3);
      await waitForCall(rps.node('qr'), 'status', (args) => isStatus(args, 'green', 'rps-queue-retry.status.counts {"requeued":2,"held":0,"failed":0}'));
    });

    it("'skip' of an error row lets the next change of that record through at once (no gap wait)", async () => {
      const rps = await setup(inboundFlow({ interval: '3600', maxRetries: '2' }));
      const out = rps.collect('out');
      const done = rps.collect('done');
      const result = rps.collect('result');
      const a1 = change({ recordId: 'A', sequence: 1 });
      const a2 = change({ recordId: 'A', sequence: 2 });
      await rps.receive(a1, a2);
      const [first] = await out.wait(1);
      assert.equal(key(first), 'A#1');
      await fail(rps, done, first, 'local API said no');
      const failed = inboundRow(rps, a1.id);
      assert.equal(failed.status, 'error');
      assert.equal(failed.error_kind, 'flow');
      assert.equal(inboundRow(rps, a2.id).status, 'ready', 'A#2 is held behind A#1');

      const answer = await act(rps, result, { action: 'skip', ids: [failed.id] });
      assert.deepEqual(answer.payload, { action: 'skip', queue: 'inbound', ids: [failed.id], resent: 0 });
      const [, next] = await out.wait(2);
      assert.equal(key(next), 'A#2');
      assert.equal(inboundRow(rps, a1.id).status, 'skipped');
    });
  });

  describe('durable error queue', () => {
    /** A message as a Catch node hands it over: with msg.error, a Buffer and nested objects, and an http-in request. */
    function caughtMessage(): Msg {
      return {
        _msgid: 'm-1',
        topic: 'orders',
        payload: {
          file: Buffer.from([0, 1, 2, 254, 255]),
          order: { id: 7, lines: [{ sku: 'A', qty: 2 }, { sku: 'B', qty: null, tags: ['x', 'ü'] }], placed: true },
        },
        error: { message: 'HTTP 500 from ERP', source: { id: 'erp', type: 'http request' } },
        req: { headers: { host: 'erp.local' }, get: (name: string) => name },
      };
    }

    const isRetryMsg = (msg: Msg): { id: number; retries: number; lastError: string } => {
      const r = msg.rpsRetry as { id: number; retries: number; lastError: string } | undefined;
      assert.ok(r, 'msg.rpsRetry is set');
      return r;
    };

    it('holds a message with its error, emits it again on output 2 with its payload intact; when it fails again it updates the same item, and after its retries it is failed with a warning', async () => {
      const rps = await setup(queueRetry({ interval: '0.1', maxRetries: '2', settle: '3600' }));
      const retried = rps.collect('retried');
      const handled = rps.collect('handled');
      const qr = rps.node('qr');
      await hold(rps, handled, caughtMessage());

      const [first] = await retried.wait(1);
      const [held] = heldItems(rps);
      assert.ok(held, 'held in the store');
      assert.deepEqual(isRetryMsg(first), { id: held.id, retries: 1, lastError: 'HTTP 500 from ERP' });
      assert.equal(held.status, 'retrying');
      const payload = first.payload as { file: unknown; order: unknown };
      assert.ok(Buffer.isBuffer(payload.file), 'the Buffer comes back as a Buffer');
      assert.deepEqual(payload, caughtMessage().payload);
      assert.equal(first.topic, 'orders');
      assert.equal(first.error, undefined, 'no msg.error on the message sent again');
      assert.equal(first.req, undefined, 'the http request is not kept');
      assert.ok(!held.message.includes('erp.local'), 'nothing of msg.req is stored');

      // It fails again and comes back as a Catch node hands it over.
      await hold(rps, handled, { ...first, error: { message: 'HTTP 500 again', source: { id: 'erp', type: 'http request' } } });
      const [, second] = await retried.wait(2);
      assert.deepEqual(isRetryMsg(second), { id: held.id, retries: 2, lastError: 'HTTP 500 again' });
      assert.deepEqual(second.payload, caughtMessage().payload);
      assert.equal(heldItems(rps).length, 1, 'the same item, not a second one');

      // And fails a third time: retries used, given up with a warning.
      await hold(rps, handled, { ...second, error: { message: 'HTTP 500 for good', source: { id: 'erp', type: 'http request' } } });
      await waitForCall(qr, 'warn', (args) => textOf(args[0]).startsWith('rps-queue-retry.warnings.failed'));
      const items = heldItems(rps);
      assert.equal(items.length, 1);
      assert.equal(items[0].status, 'failed');
      assert.equal(items[0].retries, 2);
      assert.equal(items[0].error, 'HTTP 500 for good');
      const result = rps.collect('result');
      const answer = await act(rps, result, { action: 'retry' });
      assert.deepEqual(answer.payload, { action: 'retry', queue: 'outbound', ids: [], resent: 0 });
      assert.equal(retried.msgs.length, 2, 'a failed item is not emitted again');
    });

    it('a message that refers to one object twice comes back with both references', async () => {
      const rps = await setup(queueRetry({ interval: '3600', maxRetries: '3' }));
      const retried = rps.collect('retried');
      const result = rps.collect('result');
      // As a function node writes it: keep the record as it was before the flow changed msg.payload.
      const record = { number: 'INC7', state: 2, lines: [{ sku: 'A' }] };
      await hold(rps, rps.collect('handled'), { payload: record, original: record, error: 'HTTP 500' });
      await act(rps, result, { action: 'retry' });
      const [msg] = await retried.wait(1);
      assert.deepEqual(msg.payload, record);
      assert.deepEqual(msg.original, record, 'the second reference to the same object is kept');
    });

    it('a message with a cycle is held with the cycle left out, and the rest comes back', async () => {
      const rps = await setup(queueRetry({ interval: '3600', maxRetries: '3' }));
      const retried = rps.collect('retried');
      const result = rps.collect('result');
      const node: Record<string, unknown> = { name: 'root', child: { name: 'leaf' } };
      (node.child as Record<string, unknown>).parent = node;
      await hold(rps, rps.collect('handled'), { payload: node, error: 'HTTP 500' });
      await act(rps, result, { action: 'retry' });
      const [msg] = await retried.wait(1);
      assert.deepEqual(msg.payload, { name: 'root', child: { name: 'leaf' } });
    });

    it('an item emitted again that does not come back within the settle time counts as gone through (processed)', async () => {
      // The schedule runs once at start; here each run is asked for with msg.action "retry".
      const rps = await setup(queueRetry({ interval: '3600', maxRetries: '3', settle: '0.05' }));
      const retried = rps.collect('retried');
      const result = rps.collect('result');
      await hold(rps, rps.collect('handled'), { payload: 'order 7', error: 'timeout' });
      assert.deepEqual(
        heldItems(rps).map((i) => [i.status, i.error, i.retries]),
        [['error', 'timeout', 0]],
      );

      const run = await act(rps, result, { action: 'retry' });
      assert.equal((run.payload as { resent: number }).resent, 1);
      const [msg] = await retried.wait(1);
      assert.equal(msg.payload, 'order 7');
      let [item] = heldItems(rps);
      assert.equal(item.status, 'retrying');

      // It did not come back: once the settle time has passed, the next run marks it processed.
      await untilPast(item.updated_at + 50);
      await act(rps, result, { action: 'retry' });
      [item] = heldItems(rps);
      assert.equal(item.status, 'processed');
      assert.equal(retried.msgs.length, 1);
    });

    it('an item that was being retried when the flow stopped is emitted again after a restart on the same store', async () => {
      const nodes = queueRetry({ interval: '3600', maxRetries: '5', settle: '3600' });
      const rps = await setup(nodes);
      const retried = rps.collect('retried');
      const result = rps.collect('result');
      await hold(rps, rps.collect('handled'), caughtMessage());
      await act(rps, result, { action: 'retry' });
      const [first] = await retried.wait(1);
      const [held] = heldItems(rps);
      assert.equal(held.status, 'retrying');

      // Node-RED stops before the retried flow has finished; it starts again on the same file.
      await helper.unload();
      const restarted = await setup(nodes, { storePath: () => rps.storePath });
      const qr = restarted.node('qr');
      await waitForCall(qr, 'send', () => resentBy(qr).length > 0);
      const [again] = resentBy(qr);
      assert.deepEqual(isRetryMsg(again), { id: held.id, retries: 2, lastError: 'HTTP 500 from ERP' });
      assert.deepEqual(again.payload, first.payload);
      assert.ok(Buffer.isBuffer((again.payload as { file: unknown }).file));
      const items = heldItems(restarted);
      assert.equal(items.length, 1);
      assert.equal(items[0].status, 'retrying');
    });
  });
});
