/**
 * The attachment routes and RemoteClient's attachment calls over real HTTP (node:http on
 * 127.0.0.1). What is decided about transfers and files is a stand-in AttachmentApi here
 * (in-memory decisions, files in a temp dir): the engine behind these routes is tested
 * with the store where it is built.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import type { CompleteRequest, CompleteResult, PullRequest, PullResult } from '../../src/core/attachment-protocol';
import { DEFAULT_LIMITS } from '../../src/core/protocol';
import { type AttachmentApi, attachmentRoutes, type ContentRef, type ContentTarget } from '../../src/transport/attachment-http';
import { RemoteClient } from '../../src/transport/client';
import { type AuthOutcome, inboundRouter, type Refusal } from '../../src/transport/inbound-http';

const USER = { user: 'b-calls-a', password: 'att-pw-77' };
const AUTH = `Basic ${Buffer.from(`${USER.user}:${USER.password}`).toString('base64')}`;
const MB = 1024 * 1024;

interface StagedFile {
  size: number;
  received: number;
  path: string;
}

/** The receiver's and the origin's decisions, in memory: which files each transfer asks for, and what they hold. */
class StandInApi implements AttachmentApi<string> {
  readonly files = new Map<string, StagedFile>();
  readonly written: { ref: ContentRef; received: number }[] = [];
  refusal: Refusal | undefined;
  targetRefusal: Extract<ContentTarget, { ok: false }> | undefined;
  private waiting: ((w: { ref: ContentRef; received: number }) => void)[] = [];

  constructor(private readonly dir: string) {}

  want(transfer: string, id: number, size: number): StagedFile {
    const file = { size, received: 0, path: join(this.dir, `${transfer}-${id}`) };
    this.files.set(`${transfer}/${id}`, file);
    return file;
  }

  /** The next contentWritten call. */
  nextWritten(): Promise<{ ref: ContentRef; received: number }> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async authenticate(authorization: string | undefined): Promise<AuthOutcome<string>> {
    return authorization === AUTH ? { ok: true, peer: 'peer-B' } : { ok: false, status: 401, code: 'unauthorized', error: 'credentials not accepted' };
  }

  admit(): Refusal | undefined {
    return this.refusal;
  }

  limits(): { maxBodyBytes: number; protocol: typeof DEFAULT_LIMITS } {
    return { maxBodyBytes: 64 * 1024, protocol: DEFAULT_LIMITS };
  }

  throttled(): Refusal | undefined {
    return undefined;
  }

  failed(): void {}

  async pull(_peer: string, request: PullRequest): Promise<{ status: 202; results: PullResult[] }> {
    const results = request.files.map((f): PullResult => (f.key === 'good' ? { id: f.id, status: 'accepted' } : { id: f.id, status: 'refused', code: 'expired', error: 'the key expired' }));
    return { status: 202, results };
  }

  async contentTarget(_peer: string, ref: ContentRef): Promise<ContentTarget> {
    if (this.targetRefusal) return this.targetRefusal;
    const file = this.files.get(`${ref.transfer}/${ref.file}`);
    if (!file) return { ok: false, status: 404, code: 'unknown-transfer', error: 'no such file in this transfer' };
    if (ref.offset !== file.received) return { ok: false, status: 409, code: 'offset', error: `have ${file.received} bytes`, received: file.received };
    if (ref.offset + ref.length > file.size) return { ok: false, status: 413, code: 'too-large', error: 'more bytes than the file has' };
    return { ok: true, path: file.path };
  }

  async contentWritten(_peer: string, ref: ContentRef, received: number): Promise<void> {
    const file = this.files.get(`${ref.transfer}/${ref.file}`);
    if (file) file.received = received;
    this.written.push({ ref, received });
    this.waiting.shift()?.({ ref, received });
  }

  async complete(_peer: string, request: CompleteRequest): Promise<{ status: 200; results: CompleteResult[] }> {
    const results = request.files.map((f): CompleteResult => {
      const file = this.files.get(`${request.transfer}/${f.id}`);
      if (!file) return { id: f.id, status: 'unknown' };
      if (f.status === 'refused') return { id: f.id, status: 'refused' };
      return { id: f.id, status: file.received === file.size ? 'verified' : 'incomplete' };
    });
    return { status: 200, results };
  }
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function listening(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: Server): void {
  server.closeAllConnections();
  server.close();
}

/** A body of `length` bytes made as it is read (never held whole). */
function generatedBody(length: number, chunk = 64 * 1024): Readable {
  let left = length;
  const block = Buffer.alloc(chunk, 7);
  return new Readable({
    read() {
      if (left === 0) return void this.push(null);
      const n = Math.min(left, chunk);
      left -= n;
      this.push(n === chunk ? block : block.subarray(0, n));
    },
  });
}

describe('attachment routes over HTTP, with a stand-in AttachmentApi behind them', () => {
  let dir: string;
  let api: StandInApi;
  let server: Server;
  let url: string;
  let client: RemoteClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rps-att-http-'));
    api = new StandInApi(dir);
    const route = inboundRouter(attachmentRoutes(api), { prefix: '', caseSensitive: false, strict: false });
    server = createServer((req, res) => {
      if (!route(req, res)) {
        res.writeHead(404);
        res.end();
      }
    });
    url = await listening(server);
    client = new RemoteClient({ url, auth: { type: 'basic', ...USER }, timeoutMs: 5000 });
  });
  after(() => {
    client.close();
    closeServer(server);
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    api.files.clear();
    api.written.length = 0;
    api.refusal = undefined;
    api.targetRefusal = undefined;
  });

  function put(query: string, body: Buffer | undefined, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = request(`${url}/rps/v1/attachments/content?${query}`, { method: 'PUT', headers: { Authorization: AUTH, ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  const postJson = (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${url}/rps/v1/attachments/${path}`, {
      method: 'POST',
      headers: { Authorization: AUTH, 'Content-Type': 'application/rps+json', ...headers },
      body: JSON.stringify(body),
    });

  describe('admission', () => {
    it('refuses wrong credentials with 401 on every route, and writes nothing', async () => {
      const file = api.want('t1', 1, 10);
      const wrong = new RemoteClient({ url, auth: { type: 'basic', user: USER.user, password: 'wrong' }, timeoutMs: 5000 });
      try {
        const pulled = await wrong.pullAttachments({ transfer: 't1', files: [{ id: 1, key: 'good', offset: 0 }] });
        assert.deepEqual(pulled, { kind: 'refused', status: 401, error: 'HTTP 401: credentials not accepted', code: 'unauthorized' });
        const pushed = await wrong.pushAttachment({ transfer: 't1', file: 1, offset: 0 }, 10, Readable.from([Buffer.alloc(10)]));
        assert.equal(pushed.kind, 'refused');
        assert.equal((pushed as { status: number }).status, 401);
        const completed = await wrong.completeAttachments({ transfer: 't1', files: [{ id: 1, status: 'sent' }] });
        assert.equal(completed.kind === 'refused' && completed.status, 401);
      } finally {
        wrong.close();
      }
      assert.equal(existsSync(file.path), false);
      assert.deepEqual(api.written, []);
    });

    it('answers a refused admission (403, 429 with Retry-After) before reading', async () => {
      api.want('t1', 1, 10);
      api.refusal = { status: 403, code: 'disabled', error: 'inbound is disabled for this remote system' };
      const pushed = await client.pushAttachment({ transfer: 't1', file: 1, offset: 0 }, 10, Readable.from([Buffer.alloc(10)]));
      assert.deepEqual(pushed, { kind: 'refused', status: 403, error: 'HTTP 403: inbound is disabled for this remote system', code: 'disabled' });
      api.refusal = { status: 429, code: 'rate-limited', error: 'too many requests', retryAfterSec: 3 };
      const pulled = await client.pullAttachments({ transfer: 't1', files: [{ id: 1, key: 'good', offset: 0 }] });
      assert.deepEqual(pulled, { kind: 'transient', status: 429, error: 'HTTP 429: too many requests', retryAfterMs: 3000 });
    });
  });

  describe('PUT content', () => {
    it('requires Content-Length (411)', async () => {
      api.want('t1', 1, 10);
      const answer = await put('transfer=t1&file=1&offset=0', Buffer.alloc(5), { 'Transfer-Encoding': 'chunked' });
      assert.equal(answer.status, 411);
      assert.equal(answer.body.code, 'length-required');
      assert.deepEqual(api.written, []);
    });

    it('refuses a bad query with 400 naming the parameter', async () => {
      const answer = await put('transfer=t1&file=x&offset=0', Buffer.alloc(5));
      assert.equal(answer.status, 400);
      assert.equal(answer.body.code, 'invalid');
      assert.match(String(answer.body.error), /^file: /);
      const missing = await put('file=1&offset=0', Buffer.alloc(5));
      assert.match(String(missing.body.error), /^transfer: is missing/);
    });

    it('refuses an unknown file (404), a wrong offset (409 with the bytes it has) and too many bytes (413) before writing a byte', async () => {
      const file = api.want('t1', 1, 10);
      writeFileSync(file.path, 'abc');
      file.received = 3;
      const big = 3 * MB; // more than the server drops before it cuts the connection
      const unknown = await client.pushAttachment({ transfer: 't2', file: 1, offset: 0 }, big, generatedBody(big));
      assert.deepEqual(unknown, { kind: 'refused', status: 404, error: 'HTTP 404: no such file in this transfer', code: 'unknown-transfer' });
      const offset = await client.pushAttachment({ transfer: 't1', file: 1, offset: 0 }, 10, generatedBody(10));
      assert.deepEqual(offset, { kind: 'offset', received: 3 });
      const tooLarge = await client.pushAttachment({ transfer: 't1', file: 1, offset: 3 }, big, generatedBody(big));
      assert.deepEqual(tooLarge, { kind: 'refused', status: 413, error: 'HTTP 413: more bytes than the file has', code: 'too-large' });
      assert.equal(readFileSync(file.path, 'utf8'), 'abc');
      assert.deepEqual(api.written, []);
    });

    it('answers a receiver that cannot decide now as transient, with Retry-After', async () => {
      api.targetRefusal = { ok: false, status: 503, code: 'store-unavailable', error: 'the store cannot be reached' };
      const pushed = await client.pushAttachment({ transfer: 't1', file: 1, offset: 0 }, 4, Readable.from([Buffer.from('abcd')]));
      assert.deepEqual(pushed, { kind: 'transient', status: 503, error: 'HTTP 503: the store cannot be reached', retryAfterMs: 5000 });
    });

    it('streams a 20 MB file through the client into the staged file', async () => {
      const source = randomBytes(20 * MB);
      const sourcePath = join(dir, 'source-20mb');
      writeFileSync(sourcePath, source);
      const file = api.want('t1', 7, source.length);
      const pushed = await client.pushAttachment({ transfer: 't1', file: 7, offset: 0 }, source.length, createReadStream(sourcePath));
      assert.deepEqual(pushed, { kind: 'ok', value: 'written' });
      assert.deepEqual(api.written.map((w) => w.received), [source.length]);
      assert.equal(sha256(readFileSync(file.path)), sha256(source));
    });

    it('keeps what reached the disk of an aborted push, and a push from there completes the file', async () => {
      const source = randomBytes(20 * MB);
      const sourcePath = join(dir, 'source-resume');
      writeFileSync(sourcePath, source);
      const file = api.want('t1', 8, source.length);
      const stop = new AbortController();
      // Sends the source until the receiver has written a megabyte (checked as bytes move), then aborts mid-body.
      let at = 0;
      const onDisk = (): number => (existsSync(file.path) ? statSync(file.path).size : 0);
      const aborting = new Readable({
        read() {
          if (onDisk() >= MB) return void stop.abort();
          const chunk = source.subarray(at, at + 64 * 1024);
          at += chunk.length;
          this.push(chunk.length > 0 ? chunk : null);
        },
      });
      const written = api.nextWritten();
      const first = await client.pushAttachment({ transfer: 't1', file: 8, offset: 0 }, source.length, aborting, stop.signal);
      assert.equal(first.kind, 'transient');
      const { received } = await written;
      assert.ok(received >= MB && received < source.length, `received ${received}`);
      assert.equal(onDisk(), received);
      assert.ok(readFileSync(file.path).equals(source.subarray(0, received)));

      const second = await client.pushAttachment({ transfer: 't1', file: 8, offset: received }, source.length - received, createReadStream(sourcePath, { start: received }));
      assert.deepEqual(second, { kind: 'ok', value: 'written' });
      assert.equal(file.received, source.length);
      assert.equal(sha256(readFileSync(file.path)), sha256(source));
    });

    it('cuts stale bytes past the offset before appending', async () => {
      const file = api.want('t1', 9, 6);
      writeFileSync(file.path, 'abcXYZ'); // 3 bytes counted, 3 written but never recorded
      file.received = 3;
      const pushed = await client.pushAttachment({ transfer: 't1', file: 9, offset: 3 }, 3, Readable.from([Buffer.from('def')]));
      assert.deepEqual(pushed, { kind: 'ok', value: 'written' });
      assert.equal(readFileSync(file.path, 'utf8'), 'abcdef');
    });

    it('reports a staged file shorter than counted (or gone) and asks for the push from what it holds', async () => {
      const file = api.want('t1', 12, 10);
      writeFileSync(file.path, 'ab');
      file.received = 5;
      const pushed = await client.pushAttachment({ transfer: 't1', file: 12, offset: 5 }, 5, Readable.from([Buffer.from('fghij')]));
      assert.deepEqual(pushed, { kind: 'offset', received: 2 });
      assert.equal(file.received, 2);
      assert.equal(readFileSync(file.path, 'utf8'), 'ab');
      rmSync(file.path);
      const gone = await client.pushAttachment({ transfer: 't1', file: 12, offset: 2 }, 8, Readable.from([Buffer.from('cdefghij')]));
      assert.deepEqual(gone, { kind: 'offset', received: 0 });
      assert.equal(file.received, 0);
    });

    it('keeps the bytes of a body that ends early, for the next push to resume from (the client hears a 400)', async () => {
      const file = api.want('t1', 13, 100);
      const { port } = server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      const written = api.nextWritten();
      socket.write(
        `PUT /rps/v1/attachments/content?transfer=t1&file=13&offset=0 HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: 100\r\n\r\n` + 'x'.repeat(40),
      );
      // Bytes still in Node's buffers when the connection ends are lost with it: end once the receiver has written them.
      while (!existsSync(file.path) || statSync(file.path).size < 40) await setImmediate();
      socket.end(); // half-closed: the body ends after 40 of 100 bytes, the answer can still come back
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      await once(socket, 'close');
      assert.equal((await written).received, 40);
      assert.equal(readFileSync(file.path, 'utf8'), 'x'.repeat(40));
      const answer = Buffer.concat(chunks).toString();
      // Node answers a body cut by the end of the connection itself (400 Bad Request) before our short-body can go.
      assert.match(answer, /^HTTP\/1\.1 400 /);
    });

    it('drops an OAuth2 token refused for a push and reports it transient (the body is gone; the next push takes a fresh token)', async () => {
      api.want('t1', 14, 4);
      const rejected: string[] = [];
      const oauth = new RemoteClient({ url, auth: { type: 'oauth2', tokens: { token: async () => 'expired-token', rejected: (t) => rejected.push(t) } }, timeoutMs: 5000 });
      try {
        const pushed = await oauth.pushAttachment({ transfer: 't1', file: 14, offset: 0 }, 4, Readable.from([Buffer.from('abcd')]));
        assert.equal(pushed.kind, 'transient');
        assert.equal((pushed as { status?: number }).status, 401);
        assert.deepEqual(rejected, ['expired-token']);
      } finally {
        oauth.close();
      }
    });

    it('reports a body that fails its length as transient, client side, without a complete file', async () => {
      const file = api.want('t1', 10, 10);
      const pushed = await client.pushAttachment({ transfer: 't1', file: 10, offset: 0 }, 10, Readable.from([Buffer.from('short')]));
      assert.equal(pushed.kind, 'transient');
      assert.match((pushed as { error: string }).error, /ended after 5 of 10 bytes/);
      assert.ok(file.received < 10);
    });

    it('knows PUT on its path (OPTIONS lists it; GET is 405)', async () => {
      const options = await fetch(`${url}/rps/v1/attachments/content`, { method: 'OPTIONS' });
      assert.equal(options.status, 204);
      assert.equal(options.headers.get('allow'), 'PUT');
      const get = await fetch(`${url}/rps/v1/attachments/content`);
      assert.equal(get.status, 405);
      await get.arrayBuffer();
    });
  });

  describe('idle timeout of a push', () => {
    it('aborts a push to a server that stops reading, but not one that trickles', async () => {
      const stalled = createServer(() => undefined); // takes the request, never reads nor answers
      const stalledUrl = await listening(stalled);
      const slow = new RemoteClient({ url: stalledUrl, auth: { type: 'none' }, timeoutMs: 300 });
      try {
        const length = 1024 * MB; // made as it is read: only what the socket takes is ever made
        const pushed = await slow.pushAttachment({ transfer: 't1', file: 1, offset: 0 }, length, generatedBody(length));
        assert.deepEqual(pushed, { kind: 'transient', error: 'timeout: no byte moved for 300 ms' });
      } finally {
        slow.close();
        closeServer(stalled);
      }

      // 8 chunks 100 ms apart: longer than the timeout in all, never idle that long.
      const file = api.want('t1', 11, 8);
      const trickling = new RemoteClient({ url, auth: { type: 'basic', ...USER }, timeoutMs: 300 });
      try {
        const body = Readable.from(
          (async function* () {
            for (let i = 0; i < 8; i++) {
              await new Promise((resolve) => setTimeout(resolve, 100));
              yield Buffer.from([i]);
            }
          })(),
        );
        const pushed = await trickling.pushAttachment({ transfer: 't1', file: 11, offset: 0 }, 8, body);
        assert.deepEqual(pushed, { kind: 'ok', value: 'written' });
        assert.deepEqual([...readFileSync(file.path)], [0, 1, 2, 3, 4, 5, 6, 7]);
      } finally {
        trickling.close();
      }
    });
  });

  describe('POST pull and complete', () => {
    it('pulls: 202 with a result per file', async () => {
      const pulled = await client.pullAttachments({
        transfer: 't1',
        files: [
          { id: 1, key: 'good', offset: 0 },
          { id: 2, key: 'stale', offset: 10 },
        ],
      });
      assert.deepEqual(pulled, {
        kind: 'ok',
        value: [
          { id: 1, status: 'accepted' },
          { id: 2, status: 'refused', code: 'expired', error: 'the key expired' },
        ],
      });
    });

    it('completes: 200 with a verdict per file', async () => {
      const done = api.want('t1', 1, 0);
      done.received = 0;
      api.want('t1', 2, 5);
      const completed = await client.completeAttachments({
        transfer: 't1',
        files: [
          { id: 1, status: 'sent' },
          { id: 2, status: 'sent' },
          { id: 3, status: 'refused', code: 'gone', error: 'the record no longer has it' },
        ],
      });
      assert.deepEqual(completed, {
        kind: 'ok',
        value: [
          { id: 1, status: 'verified' },
          { id: 2, status: 'incomplete' },
          { id: 3, status: 'unknown' },
        ],
      });
    });

    it('refuses malformed bodies with 400 naming the place, and other types with 415', async () => {
      const pull = await postJson('pull', { protocol: 'rps/1', transfer: 't1', files: [{ id: 1, key: 'k', offset: -1 }] });
      assert.equal(pull.status, 400);
      assert.deepEqual(await pull.json(), { error: 'files[0].offset: must be an integer of 0 or more', code: 'invalid' });
      const complete = await postJson('complete', { protocol: 'rps/1', transfer: 't1', files: [] });
      assert.equal(complete.status, 400);
      assert.deepEqual(await complete.json(), { error: 'files: must not be empty', code: 'invalid' });
      const notJson = await fetch(`${url}/rps/v1/attachments/pull`, { method: 'POST', headers: { Authorization: AUTH, 'Content-Type': 'text/plain' }, body: '{}' });
      assert.equal(notJson.status, 415);
      await notJson.arrayBuffer();
    });

    it('sorts an answer that does not answer the files asked for as transient', async () => {
      const liar = createServer((_req, res) => {
        res.writeHead(202, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ results: [{ id: 99, status: 'accepted' }] }));
      });
      const liarUrl = await listening(liar);
      const c = new RemoteClient({ url: liarUrl, auth: { type: 'none' }, timeoutMs: 5000 });
      try {
        const pulled = await c.pullAttachments({ transfer: 't1', files: [{ id: 1, key: 'good', offset: 0 }] });
        assert.equal(pulled.kind, 'transient');
      } finally {
        c.close();
        closeServer(liar);
      }
    });
  });
});
