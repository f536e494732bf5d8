/**
 * Guarantee 5 of the README's promises, second half: secrets live only in Node-RED credentials
 * or the store, never in the flow JSON, logs or status text.
 *
 * Two real Node-RED instances log at trace level (audit on) and sync records; A gets
 * OAuth2 tokens (client credentials, offline_access) from B's own /rps/v1/token. Every
 * credential on both sides is a unique, greppable string; unused remote systems hold a
 * bearer token and a refresh token; one remote system has a wrong client secret (its
 * token requests fail and are logged); B goes down for a moment; the admin routes
 * (state, Validate and activate) are called. Then none of the secrets, none of the
 * tokens B actually issued, and neither store's signing key may appear in the flow
 * export, any log line of either process, any node status, or the admin answers; nor
 * may any of them be in clear in either store's file (tokens and keys are sealed there
 * with the credential secret; test/e2e/secrets-at-rest.test.ts looks at them closer).
 */
import assert from 'node:assert/strict';
import { createDecipheriv, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { receiverFlow, senderFlow } from '../../tools/flows';
import { type FlowNode, freePort, NodeRedInstance } from '../../tools/nodered';
import { Pair, queueCounts, untilStores } from '../harness/pair';
import { RecordsServer } from '../harness/records';
import { base64Fragments, heldToken, openSealed, sqliteFiles, sqliteValue } from '../harness/secrets';

/** Every credential of both sides: unique, greppable, never a substring of another. */
const S = {
  aCredentialSecret: 'zqA01-credential-secret-Hm3Vt8',
  bCredentialSecret: 'zqB01-credential-secret-Lw6Pr2',
  // A ↔ B: B's API user for A is A's OAuth2 client at B's token endpoint.
  bInboundForA: 'zqB02-inbound-password-for-A-Qx7Nc4',
  // B ↔ A: A's API user for B, which B presents with HTTP basic.
  aInboundForB: 'zqA02-inbound-password-for-B-Ty5Kd9',
  aUnusedBasic: 'zqA03-unused-basic-password-Rf2Gs6',
  // Unused remote systems on A: a bearer token, and a refresh token with a wrong client secret.
  aBearer: 'zqA04-bearer-token-never-sent-Vb8Jn1',
  aBearerInbound: 'zqA05-bearer-system-inbound-pw-Pc4Zx7',
  aRefreshClientSecret: 'zqA06-wrong-client-secret-Dk9Wq3',
  aRefreshToken: 'zqA07-refresh-token-unknown-Mu6Ye2',
  aRefreshInbound: 'zqA08-refresh-system-inbound-pw-Ns1Fb5',
  // The same on B.
  bBearer: 'zqB03-bearer-token-never-sent-Gh4Lm8',
  bBearerInbound: 'zqB04-bearer-system-inbound-pw-Xa7Tr3',
  bRefreshClientSecret: 'zqB05-wrong-client-secret-Jc2Vp6',
  bRefreshToken: 'zqB06-refresh-token-unknown-Ek5Hs9',
  bRefreshInbound: 'zqB07-refresh-system-inbound-pw-Wd8Qn4',
};

const A_AT_B = 'a-at-b-client';
const B_AT_A = 'b-at-a-user';
const LOGGING = { console: { level: 'trace', metrics: false, audit: true } };

/** Logs every node status of a tab as one line: status texts land in the log, where they are checked. */
function statusLogger(z: string): FlowNode[] {
  return [
    { id: `${z}-status`, type: 'status', z, scope: null, x: 100, y: 400, wires: [[`${z}-log`]] },
    {
      id: `${z}-log`,
      type: 'function',
      z,
      name: 'log status',
      func: "node.log('node status ' + JSON.stringify({ node: msg.status.source.id, text: msg.status.text }));\nreturn null;",
      outputs: 1,
      x: 300,
      y: 400,
      wires: [[]],
    },
  ];
}

const retry = { batchSize: '50', maxInFlight: '2', timeout: '10', retryDelay: '0.2', retryMaxDelay: '2', maxTries: '3', probeInterval: '1', linger: '5' };

function unusedSystems(prefix: string, url: string, clientId: string, s: { bearer: string; bearerInbound: string; refreshSecret: string; refreshToken: string; refreshInbound: string }): FlowNode[] {
  return [
    {
      id: `${prefix}-bearer`,
      type: 'rps-remote-system',
      name: `${prefix} bearer (unused)`,
      url,
      authType: 'bearer',
      ...retry,
      credentials: { token: s.bearer, inboundUser: `${prefix}-bearer-user`, inboundPassword: s.bearerInbound },
    },
    {
      id: `${prefix}-refresh`,
      type: 'rps-remote-system',
      name: `${prefix} refresh (wrong secret)`,
      url,
      authType: 'oauth2-refresh',
      tokenUrl: '',
      clientId,
      ...retry,
      retryDelay: '1',
      retryMaxDelay: '5',
      probeInterval: '2',
      credentials: { clientSecret: s.refreshSecret, refreshToken: s.refreshToken, inboundUser: `${prefix}-refresh-user`, inboundPassword: s.refreshInbound },
    },
  ];
}

/** Node-RED's credential file, decrypted as Node-RED does (aes-256-ctr, key sha256(credentialSecret)). */
function decryptCredentials(userDir: string, secret: string): string {
  const file = JSON.parse(readFileSync(join(userDir, 'flows_cred.json'), 'utf8')) as { $?: string };
  assert.ok(typeof file.$ === 'string', 'flows_cred.json is encrypted');
  const key = createHash('sha256').update(secret).digest();
  const iv = Buffer.from(file.$.slice(0, 32), 'hex');
  const decipher = createDecipheriv('aes-256-ctr', key, iv);
  return decipher.update(file.$.slice(32), 'base64', 'utf8') + decipher.final('utf8');
}

/** The rows of remote system rs: under the remote instance's id, which its store learned (peers). */
const RS_LINK = "remote_system = (SELECT instance_id FROM rps_peer WHERE kind = 'node' AND name = 'rs')";

function tableCount(userDir: string, table: string): number {
  const db = new Database(join(userDir, 'rps-store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

interface Needle {
  name: string;
  text: string;
}

function needlesOf(name: string, secret: string): Needle[] {
  const all = [
    { name, text: secret },
    { name: `${name} (URL-encoded)`, text: encodeURIComponent(secret) },
    { name: `${name} (JSON-escaped)`, text: JSON.stringify(secret).slice(1, -1) },
    ...base64Fragments(secret).map((text) => ({ name: `${name} (in base64)`, text })),
  ];
  return all.filter((n, i) => all.findIndex((m) => m.text === n.text) === i);
}

/** Resolves when a line matching `pattern` is in the log (from line `from` on) or arrives within `ms`. */
async function logged(instance: NodeRedInstance, pattern: RegExp, ms: number, from = 0): Promise<string> {
  // Looking and listening happen in one tick: no line can slip between them.
  const seen = instance.log.slice(from).find((l) => pattern.test(l));
  return seen ?? instance.waitForLine(pattern, ms);
}

async function admin(instance: NodeRedInstance, path: string, method = 'GET'): Promise<{ status: number; text: string }> {
  const res = await fetch(`${instance.url}${path}`, { method });
  return { status: res.status, text: await res.text() };
}

describe('secrets stay out of flow JSON, logs, statuses and admin answers (guarantee 5)', function () {
  this.timeout(180_000);
  let a: NodeRedInstance | undefined;
  let b: NodeRedInstance | undefined;
  let records: RecordsServer | undefined;

  after(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await records?.stop();
  });

  it('with trace logging, OAuth2 against B, token failures and B down for a moment: no secret or token shows anywhere but credentials and (sealed) the store', async function () {
    const started = Date.now();
    records = new RecordsServer();
    await records.start();
    const [portA, portB] = [await freePort(), await freePort()];
    [a, b] = await Promise.all([
      NodeRedInstance.start({ name: 'A', port: portA, settings: { credentialSecret: S.aCredentialSecret, logging: LOGGING } }),
      NodeRedInstance.start({ name: 'B', port: portB, settings: { credentialSecret: S.bCredentialSecret, logging: LOGGING } }),
    ]);
    const A = a;
    const B = b;

    // B: its remote system for A takes A's client credentials (the API user) and issues tokens for 10 s.
    const bFlow = [
      ...receiverFlow({
        remoteUrl: A.url,
        remoteName: 'A',
        outbound: { user: B_AT_A, password: S.aInboundForB },
        inbound: { user: A_AT_B, password: S.bInboundForA },
        recordsUrl: records.url,
        remote: { tokenLifetime: '10' },
      }),
      ...unusedSystems('b', A.url, B_AT_A, { bearer: S.bBearer, bearerInbound: S.bBearerInbound, refreshSecret: S.bRefreshClientSecret, refreshToken: S.bRefreshToken, refreshInbound: S.bRefreshInbound }),
      ...statusLogger('tab-receiver'),
    ];
    // A: OAuth2 client credentials against B's own /rps/v1/token (tokenUrl empty), with offline_access.
    const aFlow = [
      ...senderFlow({
        remoteUrl: B.url,
        remoteName: 'B',
        outbound: { user: 'a-unused-basic-user', password: S.aUnusedBasic },
        inbound: { user: B_AT_A, password: S.aInboundForB },
        remote: { authType: 'oauth2-client', tokenUrl: '', clientId: A_AT_B, scope: 'offline_access', refreshWindow: '60', credentials: { clientSecret: S.bInboundForA } },
      }),
      ...unusedSystems('a', B.url, A_AT_B, { bearer: S.aBearer, bearerInbound: S.aBearerInbound, refreshSecret: S.aRefreshClientSecret, refreshToken: S.aRefreshToken, refreshInbound: S.aRefreshInbound }),
      // Every change also goes to the remote system with the wrong client secret: its token requests keep failing.
      { id: 'snd-bad', type: 'rps-send', z: 'tab-sender', remoteSystem: 'a-refresh', processEvent: 'pe', x: 850, y: 300, wires: [[]] },
      ...statusLogger('tab-sender'),
    ]
      .map((n) => (n.id === 'map' ? { ...n, wires: [['snd', 'snd-bad']] } : n))
      // B's URL spelt another way: with the same URL it would be one link with rs (the same
      // remote), whose sender would deliver snd-bad's messages with rs's good token.
      .map((n) => (n.id === 'a-refresh' ? { ...n, url: B.url.replace('127.0.0.1', 'localhost') } : n));
    await B.deploy(bFlow);
    await A.deploy(aFlow);
    const pair = new Pair(A, B, records);

    const issued = new Set<string>();
    // The store holds them sealed: opened with A's credential secret.
    const collectTokens = async (): Promise<void> => {
      const text = sqliteValue(A.userDir, 'oauth-token:rs');
      if (!text) return;
      const held = heldToken(await openSealed(S.aCredentialSecret, 'oauth-token:rs', text));
      issued.add(held.accessToken);
      if (held.refreshToken) issued.add(held.refreshToken);
    };

    // 1. Records flow with tokens from B.
    for (let i = 0; i < 20; i++) assert.equal(await pair.change('insert', { id: `s${i}`, name: `first ${i}`, n: i }), 200);
    await records.waitFor(() => records!.applies.length >= 20, 60_000, '20 changes applied on B');
    await collectTokens();
    assert.ok(issued.size >= 1, "A holds a token from B's /rps/v1/token");

    // 2. The admin routes on both sides, for every remote system, and the editor's credentials route.
    const answers: { where: string; text: string }[] = [];
    for (const [instance, ids] of [
      [A, ['rs', 'a-bearer', 'a-refresh']],
      [B, ['rs', 'b-bearer', 'b-refresh']],
    ] as const) {
      for (const id of ids) {
        for (const [path, method] of [
          [`/rps-remote-system/${id}/state`, 'GET'],
          [`/rps-remote-system/${id}/validate`, 'POST'],
          [`/rps-remote-system/${id}/state`, 'GET'],
          // What the editor gets of the credentials: password-type ones only as has_<name>.
          [`/credentials/rps-remote-system/${id}`, 'GET'],
        ] as const) {
          const answer = await admin(instance, path, method);
          assert.equal(answer.status, 200, `${instance.name} ${method} ${path}: ${answer.text}`);
          answers.push({ where: `${instance.name} ${method} ${path}`, text: answer.text });
        }
      }
    }
    const validateA = JSON.parse(answers.find((x) => x.where === 'A POST /rps-remote-system/rs/validate')!.text) as { checks: { name: string; ok: boolean; detail: string }[] };
    assert.ok(validateA.checks.some((c) => c.name === 'token' && c.ok), `A's validate got a token from B: ${JSON.stringify(validateA.checks)}`);
    const validateRefresh = JSON.parse(answers.find((x) => x.where === 'A POST /rps-remote-system/a-refresh/validate')!.text) as { ok: boolean };
    assert.equal(validateRefresh.ok, false, 'the wrong client secret was refused');
    // The failed token requests are logged (by validation and by the sender behind snd-bad).
    await logged(A, /a refresh \(wrong secret\)/, 30_000);
    await logged(A, /node status .*"node":"snd-bad".*remote:/, 30_000);

    // 3. B down for a moment: A keeps accepting changes and shows the failure.
    const downFrom = A.log.length;
    await B.kill();
    for (let i = 20; i < 40; i++) assert.equal(await pair.change('insert', { id: `s${i}`, name: `while B is down ${i}`, n: i }), 200);
    const down = await logged(A, /node status .*"node":"snd".*remote:/, 30_000, downFrom);
    if (process.env.RPS_SECRETS_VERBOSE) console.log(`      A while B is down: ${down}`);
    await B.launch();
    await records.waitFor(() => records!.applies.length >= 40, 90_000, 'all 40 changes applied on B');
    await untilStores("A's outbound rows to B processed", () => (queueCounts(A, 'rps_outbound', RS_LINK).processed ?? 0) === 40, 30_000);
    await collectTokens();
    // B's correlation replies reached A with HTTP basic (A's inbound password for B).
    await untilStores("B's correlation replies delivered", () => (queueCounts(B, 'rps_outbound', RS_LINK).processed ?? 0) === 40, 30_000);

    // 4. What is to be searched, collected with both processes stopped (every line flushed).
    const flowsA = JSON.stringify(await A.flows());
    const flowsB = JSON.stringify(await B.flows());
    const signingKeys: string[] = [];
    for (const [instance, secret] of [
      [A, S.aCredentialSecret],
      [B, S.bCredentialSecret],
    ] as const) {
      const text = sqliteValue(instance.userDir, 'token-signing-key');
      if (text) signingKeys.push(await openSealed(secret, 'token-signing-key', text));
    }
    assert.ok(signingKeys.length >= 1, 'a store holds a token signing key');
    assert.ok(tableCount(B.userDir, 'rps_refresh_token') >= 1, 'B issued refresh tokens (scope offline_access)');
    await Promise.all([A.stop(), B.stop()]);

    // Sanity: the secrets are the credentials in use (in the encrypted credential files), tokens were issued.
    const credsA = decryptCredentials(A.userDir, S.aCredentialSecret);
    const credsB = decryptCredentials(B.userDir, S.bCredentialSecret);
    for (const [name, secret] of Object.entries(S)) {
      if (name.endsWith('CredentialSecret')) continue;
      const where = name.startsWith('a') ? credsA : credsB;
      assert.ok(where.includes(secret), `${name} is among the credentials of ${name[0].toUpperCase()}`);
    }
    assert.ok(credsB.includes(S.aInboundForB), "B's credentials hold A's inbound password (B's outbound basic password)");
    assert.ok(credsA.includes(S.bInboundForA), "A's credentials hold B's inbound password (A's client secret)");
    const statusLines = [...A.log, ...B.log].filter((l) => l.includes('node status '));
    assert.ok(statusLines.some((l) => l.includes('"node":"inb"')) && statusLines.some((l) => l.includes('"node":"snd"')), 'node statuses were logged');
    assert.ok(existsSync(join(A.userDir, 'flows.json')) && existsSync(join(B.userDir, 'flows.json')));

    const needles: Needle[] = [
      ...Object.entries(S).flatMap(([name, secret]) => needlesOf(name, secret)),
      ...[
        [A_AT_B, S.bInboundForA],
        [B_AT_A, S.aInboundForB],
        ['a-unused-basic-user', S.aUnusedBasic],
        [A_AT_B, S.aRefreshClientSecret],
        [B_AT_A, S.bRefreshClientSecret],
      ].map(([user, pw]) => ({ name: `basic credentials of ${user}`, text: Buffer.from(`${user}:${pw}`).toString('base64') })),
      ...[...issued].flatMap((t, i) => [
        { name: `token #${i} issued by B`, text: t },
        ...(t.split('.').length === 3 ? [{ name: `signature of token #${i} issued by B`, text: t.split('.')[2] }] : []),
      ]),
      ...signingKeys.map((k) => ({ name: 'a token signing key', text: k })),
    ];
    const places: { where: string; text: string }[] = [
      { where: 'GET /flows of A', text: flowsA },
      { where: 'GET /flows of B', text: flowsB },
      { where: 'flows.json of A', text: readFileSync(join(A.userDir, 'flows.json'), 'utf8') },
      { where: 'flows.json of B', text: readFileSync(join(B.userDir, 'flows.json'), 'utf8') },
      ...A.log.map((line, i) => ({ where: `log of A, line ${i + 1}`, text: line })),
      ...B.log.map((line, i) => ({ where: `log of B, line ${i + 1}`, text: line })),
      ...answers,
      // Binary, searched byte for byte (every needle is ASCII).
      { where: "A's store file", text: sqliteFiles(A.userDir).bytes.toString('latin1') },
      { where: "B's store file", text: sqliteFiles(B.userDir).bytes.toString('latin1') },
    ];
    const leaks: string[] = [];
    for (const place of places) {
      for (const needle of needles) {
        if (place.text.includes(needle.text)) leaks.push(`${needle.name} in ${place.where}: ${place.text.length > 400 ? `${place.text.slice(0, 400)}...` : place.text}`);
      }
    }
    console.log(
      `      searched ${places.length} places (${A.log.length} + ${B.log.length} log lines, ${statusLines.length} statuses, ${answers.length} admin answers) ` +
        `for ${needles.length} needles (${Object.keys(S).length} secrets, ${issued.size} tokens) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.deepEqual(leaks, [], `secrets or tokens where they must not be:\n${leaks.join('\n')}`);
  });
});
