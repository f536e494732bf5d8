/**
 * The fault proxy the end-to-end fault tests rely on: it must do to message posts
 * exactly what a plan says (and count it), pass everything else through unchanged,
 * stream bodies intact, and cut the sender's connection when the target is down.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type Fault, FaultProxy } from './fault-proxy';

interface Seen {
  method: string;
  url: string;
  body: string;
  contentType: string | undefined;
}

const MESSAGES = '/api/rps/v1/messages';

describe('fault proxy (test harness)', () => {
  let target: Server;
  let targetUrl = '';
  let seen: Seen[] = [];
  let proxy: FaultProxy | undefined;

  beforeEach(async () => {
    seen = [];
    target = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        seen.push({ method: req.method ?? '', url: req.url ?? '', body, contentType: req.headers['content-type'] });
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-Target': 'yes' });
        res.end(JSON.stringify({ echoed: body.length }));
      });
    });
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const address = target.address();
    targetUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  afterEach(async () => {
    await proxy?.stop();
    proxy = undefined;
    target.closeAllConnections();
    target.close();
  });

  const post = (path: string, body: string, signal?: AbortSignal): Promise<Response> =>
    fetch(`${proxy?.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/rps+json' }, body, signal });

  async function until(what: string, done: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('passes requests and answers through, a large body intact, and counts message posts', async () => {
    proxy = await FaultProxy.start(targetUrl, () => undefined);
    const big = JSON.stringify({ pad: 'x'.repeat(4 * 1024 * 1024) });
    const res = await post(MESSAGES, big);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-target'), 'yes');
    assert.deepEqual(await res.json(), { echoed: big.length });
    const hs = await fetch(`${proxy.url}/api/rps/v1/handshake?x=1`);
    assert.equal(hs.status, 200);
    await hs.arrayBuffer();
    assert.deepEqual(
      seen.map((s) => [s.method, s.url, s.body.length, s.contentType]),
      [
        ['POST', MESSAGES, big.length, 'application/rps+json'],
        ['GET', '/api/rps/v1/handshake?x=1', 0, undefined],
      ],
    );
    assert.equal(proxy.posts, 1);
    assert.deepEqual(proxy.injected, { 'fail-before': 0, 'fail-after': 0, delay: 0, reset: 0 });
  });

  it('injects the planned fault into message posts only, and counts each', async () => {
    const plan: (Fault | undefined)[] = [{ kind: 'fail-before' }, { kind: 'fail-after' }, { kind: 'reset' }, { kind: 'delay', ms: 50 }, undefined];
    proxy = await FaultProxy.start(targetUrl, (n) => plan[n - 1]);

    const before = await post(MESSAGES, '{"n":1}');
    assert.equal(before.status, 500);
    assert.equal(((await before.json()) as { code: string }).code, 'injected');
    assert.equal(seen.length, 0, 'a fail-before never reaches the target');

    const after = await post(MESSAGES, '{"n":2}');
    assert.equal(after.status, 500);
    await after.arrayBuffer();
    assert.deepEqual(
      seen.map((s) => s.body),
      ['{"n":2}'],
      'a fail-after reached the target',
    );

    await assert.rejects(post(MESSAGES, '{"n":3}'), 'a reset ends the request without an answer');
    const delayed = await post(MESSAGES, '{"n":4}');
    assert.equal(delayed.status, 200);
    await delayed.arrayBuffer();
    const plain = await post(`${MESSAGES}?n=5`, '{"n":5}');
    assert.equal(plain.status, 200);
    await plain.arrayBuffer();
    // Not a message post: never given a fault, nor counted.
    const other = await post('/api/change', '{}');
    assert.equal(other.status, 200);
    await other.arrayBuffer();

    assert.deepEqual(
      seen.map((s) => s.body),
      ['{"n":2}', '{"n":4}', '{"n":5}', '{}'],
    );
    assert.equal(proxy.posts, 5);
    assert.deepEqual(proxy.injected, { 'fail-before': 1, 'fail-after': 1, delay: 1, reset: 1 });
  });

  it('does not forward a delayed post whose sender gave up meanwhile', async () => {
    proxy = await FaultProxy.start(targetUrl, () => ({ kind: 'delay', ms: 300 }));
    const giveUp = new AbortController();
    const posting = post(MESSAGES, '{"n":1}', giveUp.signal);
    await until('the delay to start', () => proxy?.injected.delay === 1);
    giveUp.abort();
    await assert.rejects(posting);
    await until('the delay to end', () => proxy?.abandoned === 1);
    assert.equal(seen.length, 0, 'not forwarded');
  });

  it('cuts the sender off when the target is down, and counts it', async () => {
    proxy = await FaultProxy.start(targetUrl, () => ({ kind: 'fail-after' }));
    target.closeAllConnections();
    target.close();
    await once(target, 'close');
    await assert.rejects(post(MESSAGES, '{"n":1}'));
    assert.equal(proxy.targetFailures, 1);
    assert.equal(proxy.injected['fail-after'], 0, 'no answer of the target was replaced');
  });
});
