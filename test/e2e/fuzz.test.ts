/**
 * Guarantee 5 of the README's promises under fuzzing: thousands of generated bad requests to
 * `POST /rps/v1/messages` and `POST /rps/v1/token` of a real Node-RED with two remote
 * systems (an API user with basic auth and our own tokens; JWTs from a real OAuth2
 * server). Every answer must be a 4xx with a JSON `{error}`, no stack trace and no
 * secret; afterwards the store holds exactly the rows it held before, the process is
 * alive and a valid request is accepted.
 *
 * Reproduce a run with RPS_FUZZ_SEED=<seed> (printed on failure and in "fuzz counts").
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomInt, type KeyObject } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  basicHeader,
  caseRng,
  checkAnswer,
  clip,
  decodeClaims,
  EXPIRED_CATEGORY,
  type FuzzContext,
  type FuzzRequest,
  MESSAGE_CATEGORIES,
  publicForms,
  schedule,
  send,
  showRequest,
  TOKEN_CATEGORIES,
  type Answer,
} from '../harness/fuzz';
import { type FlowNode, NodeRedInstance } from '../../tools/nodered';
import { OAuthServer } from '../harness/oauth-server';
import { openSealed, sqliteValue } from '../harness/secrets';

const SEED = process.env.RPS_FUZZ_SEED ? Number(process.env.RPS_FUZZ_SEED) >>> 0 : randomInt(2 ** 31);
const CONCURRENCY = 8;
const PROCESS_EVENT = 'Fuzz event';
const AUDIENCE = 'urn:rps:fuzz';
const OTHER_AUDIENCE = 'urn:rps:elsewhere';
const API = { user: 'fuzz-api-user', password: 'fz-basic-pw-q8Kx2mZ7' };
const JWT_CLIENT = { clientId: 'fuzz-jwt-client', clientSecret: 'fz-as-secret-Jw7Rk2' };
const AUD_CLIENT = { clientId: 'fuzz-aud-client', clientSecret: 'fz-as-secret-Au9Qm4' };
const MAX_BODY_MB = 2;
const NAME = 'fuzz';
const TABLES = ['rps_outbound', 'rps_inbound', 'rps_sequence', 'rps_correlation', 'rps_error_queue', 'rps_refresh_token', 'rps_value'];

function flows(as: OAuthServer): FlowNode[] {
  const z = 'tab-fuzz';
  const limits = { inboundRate: '0', activation: 'deploy', maxBody: String(MAX_BODY_MB) };
  const jwt = (audience: string, subject: string) => ({ inboundAuth: 'jwt', jwtIssuer: as.issuer, jwtAudience: audience, jwksUrl: as.jwksUrl, jwtAlgorithms: 'RS256', jwtSubject: subject });
  const inbound = (id: string, remoteSystem: string, y: number): FlowNode => ({
    id,
    type: 'rps-inbound',
    z,
    remoteSystem,
    processEvent: 'pe',
    maxParallel: '4',
    timeout: '20',
    gapWait: '30',
    x: 150,
    y,
    wires: [['done']],
  });
  return [
    { id: z, type: 'tab', label: 'Fuzz' },
    { id: 'pe', type: 'rps-process-event', name: PROCESS_EVENT },
    { id: 'rs-basic', type: 'rps-remote-system', name: 'fuzz basic', ...limits, credentials: { inboundUser: API.user, inboundPassword: API.password } },
    { id: 'rs-jwt', type: 'rps-remote-system', name: 'fuzz jwt', ...limits, ...jwt(AUDIENCE, JWT_CLIENT.clientId) },
    // Same provider, another audience: the provider's real tokens for this client are for the wrong audience.
    { id: 'rs-aud', type: 'rps-remote-system', name: 'fuzz other audience', ...limits, ...jwt(OTHER_AUDIENCE, AUD_CLIENT.clientId) },
    inbound('inb-basic', 'rs-basic', 100),
    inbound('inb-jwt', 'rs-jwt', 200),
    { id: 'done', type: 'rps-complete', z, localTable: 'record', localId: 'payload.id', localIdType: 'msg', x: 400, y: 150, wires: [[]] },
  ];
}

/** An access token of the provider for one client, fetched again shortly before it expires. */
class ProviderToken {
  private token = '';
  private exp = 0;
  private pending: Promise<void> | undefined;

  constructor(
    private readonly as: OAuthServer,
    private readonly client: { clientId: string; clientSecret: string },
  ) {}

  static async fetch(as: OAuthServer, client: { clientId: string; clientSecret: string }): Promise<string> {
    const res = await fetch(as.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicHeader(client.clientId, client.clientSecret) },
      body: 'grant_type=client_credentials',
    });
    const body = (await res.json()) as { access_token?: string };
    assert.equal(res.status, 200, `provider token: ${JSON.stringify(body)}`);
    return body.access_token as string;
  }

  get current(): string {
    return this.token;
  }

  /** Resolves once the held token is good for at least another second. */
  async fresh(): Promise<void> {
    if (this.exp - 1 > Date.now() / 1000) return;
    this.pending ??= (async () => {
      try {
        const token = await ProviderToken.fetch(this.as, this.client);
        this.token = token;
        this.exp = decodeClaims(token).exp as number;
      } finally {
        this.pending = undefined;
      }
    })();
    await this.pending;
  }
}

function rowCounts(userDir: string): Record<string, number> {
  const db = new Database(join(userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return Object.fromEntries(TABLES.map((t) => [t, (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n]));
  } finally {
    db.close();
  }
}

interface CategoryStats {
  sent: number;
  failed: number;
  statuses: Record<string, number>;
}

interface Failure {
  index: number;
  problems: string[];
  request: FuzzRequest;
  answer?: Answer;
}

function validEnvelope(id: string): string {
  return JSON.stringify({
    protocol: 'rps/1',
    sender: { instanceId: 'fuzz-sender', name: 'fuzz' },
    messages: [
      {
        id,
        kind: 'change',
        processEvent: PROCESS_EVENT,
        source: { instanceId: 'fuzz-sender', table: 'item', id },
        sequence: 1,
        operation: 'insert',
        capturedAt: new Date().toISOString(),
        interactive: false,
        fields: { id, title: 'a valid one' },
        changedFields: ['title'],
        journal: [],
        attachments: [],
      },
    ],
  });
}

describe('fuzzing the inbound endpoints of a real Node-RED (guarantee 5)', function () {
  this.timeout(120_000);
  let nr: NodeRedInstance | undefined;
  let as: OAuthServer | undefined;
  let as2: OAuthServer | undefined;
  let jwtToken: ProviderToken;
  let audToken: ProviderToken;
  let ctx: FuzzContext;
  let secrets: string[];
  let countsBefore: Record<string, number>;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const stats: Record<string, CategoryStats> = {};
  const timings: Record<string, number> = {};

  before(async () => {
    const started = Date.now();
    [as, as2] = await Promise.all([
      OAuthServer.start({ accessTokenTtl: 2, clients: [JWT_CLIENT, AUD_CLIENT], audience: AUDIENCE }),
      OAuthServer.start({ accessTokenTtl: 60, clients: [JWT_CLIENT], audience: AUDIENCE }),
    ]);
    // Obtained first, so that they have long expired (clock tolerance included) when sent.
    const expiredTokens = await Promise.all([ProviderToken.fetch(as, JWT_CLIENT), ProviderToken.fetch(as, JWT_CLIENT), ProviderToken.fetch(as, AUD_CLIENT)]);
    const foreignIssuerToken = await ProviderToken.fetch(as2, JWT_CLIENT);
    // No throttling of failed authentications (it would answer 429 to everything from
    // 127.0.0.1 once the fuzz has failed a few): every answer must be the request's own.
    nr = await NodeRedInstance.start({ name: NAME, settings: { rpsRemoteSystemAuthFailureRate: 0 } });
    await nr.deploy(flows(as));
    // Their routes answer 503 "starting" until then (a busy machine reads the store later).
    for (const node of flows(as)) if (node.type === 'rps-remote-system') await nr.remoteSystemLoaded(node.id);

    const issue = async (scope?: string): Promise<{ access_token: string; refresh_token?: string }> => {
      const res = await fetch(`${nr!.url}/rps/v1/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicHeader(API.user, API.password) },
        body: `grant_type=client_credentials${scope ? `&scope=${scope}` : ''}`,
      });
      const body = (await res.json()) as { access_token: string; refresh_token?: string };
      assert.equal(res.status, 200, JSON.stringify(body));
      return body;
    };
    const own = await issue();
    const withRefresh = await issue('offline_access');
    assert.ok(withRefresh.refresh_token, 'a refresh token with scope offline_access');
    // The store's token signing key (sealed there with the credential secret).
    const signingKey = await openSealed(String(nr.credentialSecret), 'token-signing-key', sqliteValue(nr.userDir, 'token-signing-key'));

    const jwks = (await (await fetch(as.jwksUrl)).json()) as { keys: Record<string, unknown>[] };
    const providerKey = jwks.keys[0];
    const forms = publicForms(providerKey);
    const strangerRsa: KeyObject = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const strangerEc: KeyObject = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    jwtToken = new ProviderToken(as, JWT_CLIENT);
    audToken = new ProviderToken(as, AUD_CLIENT);
    await Promise.all([jwtToken.fresh(), audToken.fresh()]);

    ctx = {
      processEvent: PROCESS_EVENT,
      maxBodyBytes: MAX_BODY_MB * 1024 * 1024,
      adminMaxBytes: 5 * 1024 * 1024,
      user: API.user,
      password: API.password,
      basicId: 'rs-basic',
      otherIds: ['rs-jwt', 'rs-aud'],
      ownToken: own.access_token,
      ownClaims: decodeClaims(own.access_token),
      signingKey: Buffer.from(signingKey, 'base64url'),
      refreshToken: withRefresh.refresh_token,
      jwt: {
        issuer: as.issuer,
        audience: AUDIENCE,
        subject: JWT_CLIENT.clientId,
        clientSecret: JWT_CLIENT.clientSecret,
        kid: String(providerKey.kid),
        publicPem: forms.pem,
        publicN: forms.n,
        token: () => jwtToken.current,
      },
      wrongAudienceToken: () => audToken.current,
      foreignIssuerToken,
      expiredTokens,
      strangerRsa,
      strangerEc,
    };
    secrets = [API.password, JWT_CLIENT.clientSecret, AUD_CLIENT.clientSecret, signingKey, withRefresh.refresh_token, own.access_token, `rps-test-secret-${NAME}`];

    // Sanity: the credentials the fuzz varies are good ones, so refusals are the fuzz's doing.
    for (const auth of [basicHeader(API.user, API.password), `Bearer ${own.access_token}`, `Bearer ${jwtToken.current}`]) {
      const hs = await fetch(`${nr.url}/rps/v1/handshake`, { headers: { Authorization: auth } });
      assert.equal(hs.status, 200, `handshake with ${auth.slice(0, 12)}...: ${await hs.text()}`);
    }
    countsBefore = rowCounts(nr.userDir);
    timings.setupSec = (Date.now() - started) / 1000;
  });

  after(async () => {
    agent.destroy();
    console.log(JSON.stringify({ 'fuzz counts': { seed: SEED, ...timings, categories: stats } }));
    await nr?.kill();
    await as?.stop();
    await as2?.stop();
  });

  async function run(categories: Record<string, { make: (rng: ReturnType<typeof caseRng>, ctx: FuzzContext) => FuzzRequest }>, order: string[], offset: number): Promise<Failure[]> {
    const failures: Failure[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < order.length) {
        const i = next++;
        const index = offset + i;
        const category = order[i];
        await Promise.all([jwtToken.fresh(), audToken.fresh()]);
        const request = categories[category].make(caseRng(SEED, index), ctx);
        const s = (stats[category] ??= { sent: 0, failed: 0, statuses: {} });
        s.sent += 1;
        let answer: Answer | undefined;
        let problems: string[];
        try {
          answer = await send(nr!.url, agent, request, 30_000);
          problems = checkAnswer(request, answer, secrets);
        } catch (err) {
          problems = [`no answer: ${(err as Error).message}`];
        }
        const key = answer ? String(answer.status) : 'none';
        s.statuses[key] = (s.statuses[key] ?? 0) + 1;
        if (problems.length > 0) {
          s.failed += 1;
          failures.push({ index, problems, request, answer });
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return failures;
  }

  /** A failure report: per category and problem, how many, and the first request and answer of each. */
  function report(failures: Failure[], total: number): string {
    const groups = new Map<string, Failure[]>();
    for (const f of failures) {
      const key = `${f.request.category}: ${f.problems.join('; ')}`.replace(/\d{4,}/g, 'N');
      const list = groups.get(key) ?? [];
      list.push(f);
      groups.set(key, list);
    }
    const lines = [`seed ${SEED} (RPS_FUZZ_SEED=${SEED} to repeat): ${failures.length} of ${total} requests answered wrongly`];
    for (const [key, list] of [...groups].sort((a, b) => b[1].length - a[1].length)) {
      const f = list[0];
      lines.push(`- ${key}: ${list.length} requests, e.g. case #${f.index}`);
      lines.push(`    ${showRequest(f.request)}`);
      lines.push(f.answer ? `    -> ${f.answer.status} ${String(f.answer.headers['content-type'] ?? '')} ${clip(JSON.stringify(f.answer.body), 300)}` : '    -> no answer');
    }
    return lines.join('\n');
  }

  it('3,000+ bad requests to /rps/v1/messages: each a 4xx with a JSON reason, no stack trace, no secret', async function () {
    this.timeout(300_000);
    const started = Date.now();
    const order = schedule(SEED, MESSAGE_CATEGORIES);
    const failures = await run(MESSAGE_CATEGORIES, order, 0);
    // The provider's tokens obtained at set-up must be past exp + the 10 s clock tolerance.
    const latest = Math.max(...ctx.expiredTokens.map((t) => decodeClaims(t).exp as number));
    const wait = (latest + 12) * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const expiredOrder = schedule(SEED, EXPIRED_CATEGORY);
    failures.push(...(await run(EXPIRED_CATEGORY, expiredOrder, order.length)));
    const total = order.length + expiredOrder.length;
    timings.messagesSec = (Date.now() - started) / 1000;
    timings.messagesRequests = total;
    assert.ok(total >= 3000);
    assert.equal(failures.length, 0, report(failures, total));
  });

  it('1,500+ bad requests to /rps/v1/token: each a 4xx with a JSON reason, no stack trace, no secret', async function () {
    this.timeout(300_000);
    const started = Date.now();
    const order = schedule(SEED + 1, TOKEN_CATEGORIES);
    const failures = await run(TOKEN_CATEGORIES, order, 1_000_000);
    timings.tokenSec = (Date.now() - started) / 1000;
    timings.tokenRequests = order.length;
    assert.ok(order.length >= 1500);
    assert.equal(failures.length, 0, report(failures, order.length));
  });

  it('afterwards: no row was written, Node-RED is alive, and valid requests are accepted', async () => {
    assert.deepEqual(rowCounts(nr!.userDir), countsBefore, 'row counts of every store table unchanged by the fuzz');
    assert.ok(nr!.running && nr!.pid !== undefined, 'the Node-RED process is running');
    process.kill(nr!.pid!, 0);
    await jwtToken.fresh();
    for (const auth of [basicHeader(API.user, API.password), `Bearer ${ctx.ownToken}`, `Bearer ${jwtToken.current}`]) {
      const id = `valid-${randomInt(1e9)}`;
      const res = await fetch(`${nr!.url}/rps/v1/messages`, { method: 'POST', headers: { 'Content-Type': 'application/rps+json', Authorization: auth }, body: validEnvelope(id) });
      const body = await res.text();
      assert.equal(res.status, 200, `${auth.slice(0, 12)}...: ${body}`);
      // With the receiver's instance id, as its handshake gives it.
      const answer = JSON.parse(body) as { instanceId?: unknown };
      assert.deepEqual(answer, { results: [{ id, status: 'accepted' }], instanceId: answer.instanceId });
      assert.ok(typeof answer.instanceId === 'string' && answer.instanceId !== '', 'the answer names the receiver');
    }
    const token = await fetch(`${nr!.url}/rps/v1/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basicHeader(API.user, API.password) },
      body: 'grant_type=client_credentials',
    });
    assert.equal(token.status, 200, await token.text());
  });
});
