/**
 * TLS between real Node-RED processes: B serves its HTTP (admin API and /rps/v1)
 * over HTTPS with a certificate from a throw-away CA; A's remote system for B has
 * an https:// URL and a core tls-config node holding the CA (file path, server
 * certificate verified). Without the tls-config node, A's "Validate and activate"
 * reports a failed `tls` check, nothing reaches B, and the rows wait in A's queue
 * until the CA is configured again.
 *
 * The test process talks to B's admin API with its own https requests trusting the
 * CA; A's process gets no TLS setting other than its flows.
 */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { A_TO_B, B_TO_A, receiverFlow, senderFlow } from '../../tools/flows';
import { makeTestCerts, type TestCerts } from '../harness/certs';
import { type FlowNode, NodeRedInstance } from '../../tools/nodered';
import { nodeStatus } from '../harness/status';
import { assertExactlyOnceInOrder, Pair, plan, queueCounts, stream, untilStores } from '../harness/pair';
import { RecordsServer } from '../harness/records';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
interface ValidationAnswer {
  ok: boolean;
  checks: Check[];
  states: { outbound: string; inbound: string; outboundError?: string };
}

/** One JSON request to an https URL, trusting only `ca`. */
function httpsJson(url: string, method: string, ca: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((res, rej) => {
    const req = request(
      url,
      { method, ca, headers: { ...(text ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) } : {}), ...headers } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (c: Buffer) => chunks.push(c));
        response.on('end', () => res({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', rej);
      },
    );
    req.on('error', rej);
    req.end(text);
  });
}

/** NodeRedInstance.deploy speaks plain http; B's admin API is https. Same steps, over https with the CA. */
async function deployOverHttps(instance: NodeRedInstance, baseUrl: string, ca: string, flows: readonly FlowNode[]): Promise<void> {
  const started = instance.waitForLine(/Started flows/, 60_000);
  started.catch(() => undefined);
  const res = await httpsJson(`${baseUrl}/flows`, 'POST', ca, { flows }, { 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' });
  if (res.status !== 200) throw new Error(`${instance.name}: deploy failed: HTTP ${res.status} ${res.body}`);
  await started;
}

async function validate(instance: NodeRedInstance): Promise<ValidationAnswer> {
  const res = await fetch(`${instance.url}/rps-remote-system/rs/validate`, { method: 'POST' });
  const body = (await res.json()) as ValidationAnswer;
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

describe('TLS between real Node-RED processes (B over HTTPS, throw-away CA)', function () {
  this.timeout(60_000);
  let certs: TestCerts;
  let pair: Pair;
  let bUrl: string;
  /** Every change sent to A so far, for the final exactly-once check. */
  const sent: ReturnType<typeof plan> = [];

  /** A's flows for B at `bUrl`, with or without the tls-config node holding the CA (by file path). */
  const senderFlows = (withCa: boolean): FlowNode[] => {
    const flows = senderFlow({ remoteUrl: bUrl, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A, remote: withCa ? { tls: 'tls-b' } : {} });
    if (!withCa) return flows;
    const tlsConfig: FlowNode = {
      id: 'tls-b',
      type: 'tls-config',
      name: 'CA of B',
      cert: '',
      key: '',
      ca: certs.ca.certPath,
      certname: '',
      keyname: '',
      caname: '',
      servername: '',
      verifyservercert: true,
    };
    return [...flows, tlsConfig];
  };

  before(async () => {
    certs = await makeTestCerts();
    const records = new RecordsServer();
    await records.start();
    const [a, b] = await Promise.all([
      NodeRedInstance.start({ name: 'A' }),
      NodeRedInstance.start({ name: 'B', settings: { https: { key: certs.server.key, cert: certs.server.cert } } }),
    ]);
    pair = new Pair(a, b, records);
    bUrl = `https://127.0.0.1:${b.port}`;
    assert.ok(b.log.some((l) => l.includes(`Server now running at https://127.0.0.1:${b.port}`)), 'B serves https');
    await deployOverHttps(
      b,
      bUrl,
      certs.ca.cert,
      receiverFlow({ remoteUrl: a.url, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl: records.url }),
    );
  });

  after(async () => {
    await pair?.stop();
    certs?.remove();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && pair) {
      console.log('--- A log ---\n' + pair.a.log.slice(-40).join('\n'));
      console.log('--- B log ---\n' + pair.b.log.slice(-40).join('\n'));
    }
  });

  it('with a tls-config node holding the CA (verify on): Validate passes the tls check and changes arrive on B', async () => {
    await pair.a.deploy(senderFlows(true));
    const answer = await validate(pair.a);
    const tls = answer.checks.find((c) => c.name === 'tls');
    assert.deepEqual(tls, { name: 'tls', ok: true, detail: 'certificate accepted' }, JSON.stringify(answer.checks));
    assert.equal(answer.ok, true, JSON.stringify(answer.checks));

    const rounds = plan(10, 2, 't');
    sent.push(...rounds);
    await stream(pair, rounds, 4);
    await pair.records.waitFor(() => pair.records.applies.length >= 20, 30_000, '20 changes applied on B');
    assertExactlyOnceInOrder(pair.records, sent);
    await untilStores("A's outbound rows processed", () => queueCounts(pair.a, 'rps_outbound').processed === 20, 10_000);
    assert.deepEqual(queueCounts(pair.a, 'rps_outbound'), { processed: 20 });
  });

  it('without the tls-config node: Validate reports a failed tls check with the OpenSSL code, nothing is delivered, the rows wait in the queue and arrive once the CA is back', async () => {
    const applied = pair.records.applies.length;
    const total = (c: Record<string, number>): number => Object.values(c).reduce((x, y) => x + y, 0);
    // Rows, whatever their status: B may still be completing the last change of the previous test.
    const inboundOnB = total(queueCounts(pair.b, 'rps_inbound'));

    // Sent at once (activated on deploy): every attempt fails in the TLS handshake, and after
    // three failed requests the remote is in error, which the send node shows (retained, so
    // it cannot be missed whenever it comes).
    const remoteError = nodeStatus(pair.a, 'snd', (st) => st.fill === 'red' && /remote: UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(st.text ?? ''), 30_000);
    await pair.a.deploy(senderFlows(false));
    const rounds = plan(5, 1, 'u');
    sent.push(...rounds);
    await stream(pair, rounds, 5);
    await remoteError;

    const answer = await validate(pair.a);
    const byName = new Map(answer.checks.map((c) => [c.name, c]));
    assert.equal(answer.ok, false);
    assert.equal(byName.get('connection')?.ok, true, 'B answers');
    assert.equal(byName.get('tls')?.ok, false, JSON.stringify(answer.checks));
    assert.match(byName.get('tls')?.detail ?? '', /^UNABLE_TO_VERIFY_LEAF_SIGNATURE: /);
    assert.ok(!byName.has('auth') && !byName.has('protocol'), 'nothing is checked past the failed TLS handshake');
    assert.equal(answer.states.outbound, 'error');
    assert.match(answer.states.outboundError ?? '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);

    // Nothing reached B; the five rows are in A's queue (in error or waiting), none lost.
    assert.equal(pair.records.applies.length, applied, 'nothing applied on B');
    assert.equal(total(queueCounts(pair.b, 'rps_inbound')), inboundOnB, "no new row in B's inbound queue");
    assert.equal(total(queueCounts(pair.a, 'rps_outbound', "status <> 'processed'")), 5, 'the five changes are in the queue');
    assert.ok(total(queueCounts(pair.a, 'rps_outbound', "last_error LIKE 'UNABLE_TO_VERIFY_LEAF_SIGNATURE:%'")) >= 1, 'attempts failed on the certificate');
    assert.deepEqual(
      queueCounts(pair.a, 'rps_outbound', "status <> 'processed' AND last_error IS NOT NULL AND last_error NOT LIKE 'UNABLE_TO_VERIFY_LEAF_SIGNATURE:%'"),
      {},
      'every failed attempt failed on the certificate',
    );
    assert.deepEqual(queueCounts(pair.a, 'rps_outbound', "status = 'error' AND error_kind <> 'connection'"), {}, 'rows in error are of kind connection: the probe takes them back');
    assert.equal(queueCounts(pair.a, 'rps_outbound').processed, 20);

    // The CA configured again: the same rows are delivered, once each, in order.
    await pair.a.deploy(senderFlows(true));
    await pair.records.waitFor(() => pair.records.applies.length >= 25, 30_000, 'the 5 waiting changes applied on B');
    assertExactlyOnceInOrder(pair.records, sent);
    await untilStores("A's outbound rows processed", () => queueCounts(pair.a, 'rps_outbound').processed === 25, 10_000);
  });

  it('an https URL written in capitals (HTTPS://127.0.0.1:…) without the CA: Validate still reports the failed tls check', async () => {
    const flows = senderFlows(false).map((n) => (n.id === 'rs' ? { ...n, url: bUrl.replace(/^https/, 'HTTPS') } : n));
    await pair.a.deploy(flows);
    const answer = await validate(pair.a);
    const tls = answer.checks.find((c) => c.name === 'tls');
    assert.equal(answer.ok, false, `the handshake failed in TLS, yet Validate answered ok: ${JSON.stringify(answer.checks)}`);
    assert.equal(tls?.ok, false, JSON.stringify(answer.checks));
    assert.match(tls?.detail ?? '', /^UNABLE_TO_VERIFY_LEAF_SIGNATURE: /);
  });
});
