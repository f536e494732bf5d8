/**
 * Guarantee 5 of the README's promises at the inbound endpoint of a real Node-RED: bad
 * requests get a 4xx with a reason, nothing is written, the instance keeps serving.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { A_TO_B, PROCESS_EVENT } from '../../tools/flows';
import { Pair, queueCounts } from '../harness/pair';

function basic(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}

function message(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: randomUUID(),
    kind: 'change',
    processEvent: PROCESS_EVENT,
    source: { instanceId: 'test-instance', table: 'item', id: 'x1' },
    sequence: 1,
    operation: 'insert',
    capturedAt: new Date().toISOString(),
    interactive: true,
    fields: { title: 'hello', n: 1 },
    changedFields: ['title', 'n'],
    journal: [],
    attachments: [],
    ...overrides,
  };
}

function envelope(messages: unknown[], protocol = 'rps/1'): string {
  return JSON.stringify({ protocol, sender: { instanceId: 'test-instance', name: 'test' }, messages });
}

describe('inbound endpoint refuses bad requests (real Node-RED)', function () {
  this.timeout(120_000);
  let pair: Pair;
  let url: string;
  const auth = basic(A_TO_B.user, A_TO_B.password);

  before(async () => {
    pair = await Pair.start();
    url = `${pair.b.url}/rps/v1/messages`;
    // Until B's remote system has read its state and link from the store, its routes answer 503 "starting".
    await pair.b.remoteSystemLoaded('rs');
  });
  after(async () => {
    await pair?.stop();
  });

  const post = async (body: string, headers: Record<string, string>): Promise<{ status: number; body: { error?: string } }> => {
    const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/rps+json', ...headers }, body });
    const text = await res.text();
    let parsed: { error?: string } = {};
    try {
      parsed = JSON.parse(text) as { error?: string };
    } catch {
      parsed = { error: text };
    }
    return { status: res.status, body: parsed };
  };

  const cases: { name: string; status: number; reason: RegExp; send: () => Promise<{ status: number; body: { error?: string } }> }[] = [
    { name: 'malformed JSON', status: 400, reason: /not valid JSON/, send: () => post('{"protocol":"rps/1", "messages": [', { Authorization: auth }) },
    {
      name: 'invalid UTF-8',
      status: 400,
      reason: /UTF-8/,
      send: async () => {
        const body = Buffer.concat([Buffer.from('{"protocol":"rps/1","x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
        const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/rps+json', Authorization: auth }, body });
        return { status: res.status, body: (await res.json()) as { error?: string } };
      },
    },
    {
      // With httpAdminRoot and httpNodeRoot both "/", Node-RED's admin API parses
      // application/json first and answers a parse error itself (HTML, its wording).
      name: 'malformed JSON as application/json',
      status: 400,
      reason: /JSON/,
      send: async () => {
        const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: auth }, body: '{"protocol":' });
        return { status: res.status, body: { error: await res.text() } };
      },
    },
    {
      name: 'application/json envelope with the wrong protocol',
      status: 400,
      reason: /protocol/,
      send: async () => {
        const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: auth }, body: envelope([message()], 'rps/0') });
        return { status: res.status, body: (await res.json()) as { error?: string } };
      },
    },
    { name: 'wrong protocol version', status: 400, reason: /protocol/, send: () => post(envelope([message()], 'rps/2'), { Authorization: auth }) },
    { name: 'missing password', status: 401, reason: /authentication required/, send: () => post(envelope([message()]), {}) },
    {
      name: 'wrong password',
      status: 401,
      reason: /not accepted/,
      send: () => post(envelope([message()]), { Authorization: basic(A_TO_B.user, 'wrong-password') }),
    },
    {
      name: 'unknown process event',
      status: 404,
      reason: /process event "No such event"/,
      send: () => post(envelope([message(), message({ processEvent: 'No such event' })]), { Authorization: auth }),
    },
    {
      name: 'invalid message in a batch',
      status: 400,
      reason: /messages\[1\]\.sequence/,
      send: () => post(envelope([message(), message({ sequence: 'one' })]), { Authorization: auth }),
    },
    {
      name: 'wrong content type',
      status: 415,
      reason: /Content-Type/,
      send: async () => {
        const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain', Authorization: auth }, body: envelope([message()]) });
        return { status: res.status, body: (await res.json()) as { error?: string } };
      },
    },
    {
      name: 'body over the size limit',
      status: 413,
      reason: /larger than/,
      send: () => post(envelope([message({ fields: { big: 'x'.repeat(11 * 1024 * 1024) } })]), { Authorization: auth }),
    },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.status} with a reason, nothing written`, async () => {
      const before = queueCounts(pair.b, 'rps_inbound');
      const res = await c.send();
      assert.equal(res.status, c.status, JSON.stringify(res.body));
      assert.match(res.body.error ?? '', c.reason);
      assert.deepEqual(queueCounts(pair.b, 'rps_inbound'), before, 'inbound queue unchanged');
      // The instance still serves: a handshake with the right credentials works.
      const hs = await fetch(`${pair.b.url}/rps/v1/handshake`, { headers: { Authorization: auth } });
      assert.equal(hs.status, 200);
      const body = (await hs.json()) as { protocol: string; processEvents: string[] };
      assert.equal(body.protocol, 'rps/1');
      assert.ok(body.processEvents.includes(PROCESS_EVENT));
    });
  }

  it('a valid message with the right credentials is accepted, and again as duplicate', async () => {
    const m = message({ source: { instanceId: 'test-instance', table: 'item', id: 'fresh-1' } });
    const first = await post(envelope([m]), { Authorization: auth });
    assert.equal(first.status, 200);
    // Each answer names the receiver by its instance id, as its handshake does.
    const handshake = (await (await fetch(url.replace(/messages$/, 'handshake'), { headers: { Authorization: auth } })).json()) as { instanceId: string };
    assert.deepEqual(first.body, { results: [{ id: m.id, status: 'accepted' }], instanceId: handshake.instanceId });
    const second = await post(envelope([m]), { Authorization: auth });
    assert.deepEqual(second.body, { results: [{ id: m.id, status: 'duplicate' }], instanceId: handshake.instanceId });
    await pair.records.waitFor(() => pair.records.bySource.has('item/fresh-1'), 10_000, 'the message applied');
  });
});
