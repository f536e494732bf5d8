/**
 * Secrets at rest (issue 10): the OAuth2 tokens a Node-RED obtained and the key that
 * signs the tokens it issues are kept in its store sealed with a key derived from its
 * credential secret. Real Node-RED processes using each other's /rps/v1/token (OAuth2
 * both ways, with refresh tokens), then the store as someone with a copy of it would
 * see it: the SQLite file and its write-ahead log byte by byte, or a pg_dump of the
 * PostgreSQL schema. The tokens and keys to look for are learnt by opening the sealed
 * values with the known credential secret. Then: a Node-RED restarted with another
 * credential secret obtains a new grant and delivers what was queued before; and a
 * store written in clear by an earlier version is sealed at the next start, keeping
 * its signing key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oauthTokenName, SIGNING_KEY } from '../../src/engine/secrets';
import { DEFAULT_STORE_FILE } from '../../src/nodes/runtime';
import { SqliteStore } from '../../src/store/sqlite';
import { decodeJwt, verifyHs256 } from '../../src/transport/jwt';
import { A_TO_B, B_TO_A, type Credentials, mutualOAuthRemote, receiverFlow, senderFlow } from '../../tools/flows';
import { freePort, NodeRedInstance } from '../../tools/nodered';
import { assertExactlyOnceInOrder, Pair, plan, postChange, queueCounts, stream, untilStores } from '../harness/pair';
import { assertPgReachable, pgQuery, TEST_PG_URL, TestSchemas } from '../../tools/pg';
import { RecordsServer } from '../harness/records';
import {
  type ByteNeedle,
  foundIn,
  heldToken,
  keyNeedles,
  openSealed,
  opensWith,
  pgDump,
  sqliteFiles,
  sqliteValue,
  textNeedles,
} from '../harness/secrets';

const TOKEN = oauthTokenName('rs');

/** Each side calls the other with tokens from the other's /rps/v1/token, refresh tokens included; active on deploy. */
function oauthRemote(creds: Credentials, extra: Record<string, unknown> = {}): NonNullable<Parameters<typeof senderFlow>[0]['remote']> {
  return { ...mutualOAuthRemote(creds), activation: 'deploy', scope: 'offline_access', ...extra };
}

/** The secrets one store holds, opened with its Node-RED's credential secret. */
interface HeldSecrets {
  accessToken: string;
  refreshToken: string;
  signingKey: string;
}

async function secretsOf(credentialSecret: string, read: (name: string) => Promise<string | undefined> | string | undefined): Promise<HeldSecrets> {
  const held = heldToken(await openSealed(credentialSecret, TOKEN, await read(TOKEN)));
  assert.ok(held.refreshToken, 'the held token has a refresh token (scope offline_access)');
  return { accessToken: held.accessToken, refreshToken: held.refreshToken, signingKey: await openSealed(credentialSecret, SIGNING_KEY, await read(SIGNING_KEY)) };
}

function needlesOf(side: string, s: HeldSecrets): ByteNeedle[] {
  return [
    ...textNeedles(`${side}'s access token`, s.accessToken),
    ...textNeedles(`${side}'s refresh token`, s.refreshToken),
    ...keyNeedles(`${side}'s token signing key`, s.signingKey),
  ];
}

function assertNotIn(where: string, bytes: Buffer, needles: readonly ByteNeedle[]): void {
  assert.ok(bytes.length > 0, `${where} is not empty`);
  assert.deepEqual(foundIn(bytes, needles), [], `in clear in ${where}`);
}

function assertSqliteClean(instance: NodeRedInstance, needles: readonly ByteNeedle[], when: string): void {
  const { files, bytes } = sqliteFiles(instance.userDir);
  assertNotIn(`${instance.name}'s store ${when} (${files.map((f) => f.slice(f.lastIndexOf('/') + 1)).join(' + ')})`, bytes, needles);
}

/** Its remote system `rs` takes calls (it answers 503 while it starts). */
async function untilInboundActive(instance: NodeRedInstance): Promise<void> {
  const state = async (): Promise<unknown> => ((await (await fetch(`${instance.url}/rps-remote-system/rs/state`)).json()) as { inbound?: unknown }).inbound;
  await untilStores(`${instance.name}'s inbound side active`, async () => (await state()) === 'active', 30_000);
}

function secretString(instance: NodeRedInstance): string {
  const secret = instance.credentialSecret;
  assert.equal(typeof secret, 'string');
  return secret as string;
}

describe('secrets at rest: no token or key in clear in a store file or a database dump', function () {
  this.timeout(300_000);
  let pair: Pair | undefined;
  let instances: NodeRedInstance[] = [];
  let records: RecordsServer | undefined;
  const schemas = new TestSchemas();

  afterEach(async function () {
    const all = [...(pair ? [pair.a, pair.b] : []), ...instances];
    if (this.currentTest?.state === 'failed') for (const i of all) console.log(`--- ${i.name} log ---\n${i.log.slice(-40).join('\n')}`);
    await pair?.stop();
    await Promise.all(instances.map((i) => i.kill()));
    await records?.stop();
    await schemas.drop();
    pair = records = undefined;
    instances = [];
  });

  it('SQLite, OAuth2 both ways: neither store file nor its WAL holds a token or key; restarted with another credential secret, A gets a new grant and delivers what was queued', async () => {
    pair = await Pair.start({ remoteA: oauthRemote(A_TO_B), remoteB: oauthRemote(B_TO_A) });
    const { a, b, records: applied } = pair;
    const first = plan(10, 2, 'f');
    await stream(pair, first, 4);
    await applied.waitFor(() => applied.applies.length >= 20, 60_000, '20 changes applied on B');
    // B's correlation replies went to A with tokens from A's endpoint.
    await untilStores("B's correlation replies delivered to A", () => queueCounts(b, 'rps_outbound').processed === 10, 30_000);

    const secretA = secretString(a);
    const before = { a: await secretsOf(secretA, (n) => sqliteValue(a.userDir, n)), b: await secretsOf(secretString(b), (n) => sqliteValue(b.userDir, n)) };
    const needles = [...needlesOf('A', before.a), ...needlesOf('B', before.b)];
    assertSqliteClean(a, needles, 'while running');
    assertSqliteClean(b, needles, 'while running');

    // B stops; A queues changes for it; then A dies. SIGKILL: both WALs stay as they were.
    await b.kill();
    const queued = plan(10, 1, 'q');
    await stream(pair, queued, 4);
    await a.kill();
    assertSqliteClean(a, needles, 'after SIGKILL');
    assertSqliteClean(b, needles, 'after SIGKILL');
    const waiting = queueCounts(a, 'rps_outbound', "record_id LIKE 'q%'");
    assert.equal((waiting.ready ?? 0) + (waiting.error ?? 0) + (waiting.processing ?? 0), 10, `the queued changes wait in A's store: ${JSON.stringify(waiting)}`);

    // A comes back with another credential secret. Node-RED cannot open its own
    // credentials file then: the operator enters the credentials again (a deploy).
    const newSecret = 'another-credential-secret-9QwX';
    a.configure({ settings: { credentialSecret: newSecret } });
    const from = a.log.length;
    await a.launch();
    await a.deploy(senderFlow({ remoteUrl: b.url, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A, remote: oauthRemote(A_TO_B) }));
    await b.launch();
    await applied.waitFor(() => applied.applies.length >= 30, 120_000, 'the changes queued before the restart, applied on B');
    const more = plan(5, 1, 'm');
    await stream(pair, more, 4);
    await applied.waitFor(() => applied.applies.length >= 35, 60_000, 'changes made after the restart');
    assertExactlyOnceInOrder(applied, [...first, ...queued, ...more]);
    // B's replies for the new records reached A: B was refused with its old token (signed with A's old key) and got a new one.
    await untilStores("B's correlation replies for the new records delivered to A", () => queueCounts(b, 'rps_outbound').processed === 25, 60_000);

    // A told why its secrets were gone, and got new ones: a new grant from B, a new signing key.
    const told = a.log.slice(from);
    for (const name of [TOKEN, SIGNING_KEY]) assert.ok(told.some((l) => l.includes(`the stored ${name} cannot be decrypted`)), `A logged that ${name} could not be decrypted`);
    const rawToken = sqliteValue(a.userDir, TOKEN)!;
    assert.equal(await opensWith(secretA, TOKEN, rawToken), false, 'sealed with the new secret only');
    const afterA = await secretsOf(newSecret, (n) => sqliteValue(a.userDir, n));
    assert.notEqual(afterA.accessToken, before.a.accessToken);
    assert.notEqual(afterA.refreshToken, before.a.refreshToken, 'a new grant');
    assert.notEqual(afterA.signingKey, before.a.signingKey, 'a new signing key');
    const afterB = await secretsOf(secretString(b), (n) => sqliteValue(b.userDir, n));
    assert.notEqual(afterB.accessToken, before.b.accessToken, "B holds a token signed with A's new key");
    const allNeedles = [...needles, ...needlesOf('A (new secret)', afterA), ...needlesOf('B (after)', afterB)];
    assertSqliteClean(a, allNeedles, 'after the new grant');
    assertSqliteClean(b, allNeedles, 'after the new grant');
  });

  it('PostgreSQL, OAuth2 both ways: pg_dump of either schema holds no token or key in clear', async () => {
    await assertPgReachable();
    const [schemaA, schemaB] = [schemas.next(), schemas.next()];
    records = new RecordsServer();
    await records.start();
    const [a, b] = await Promise.all([NodeRedInstance.start({ name: 'A', port: await freePort() }), NodeRedInstance.start({ name: 'B', port: await freePort() })]);
    instances = [a, b];
    const storeNode = (schema: string, instanceName: string) => ({ id: 'st', type: 'rps-store', storeType: 'postgres', pgUrl: TEST_PG_URL, pgSchema: schema, instanceName });
    await a.deploy([...senderFlow({ remoteUrl: b.url, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A, remote: oauthRemote(A_TO_B, { store: 'st' }) }), storeNode(schemaA, 'A')]);
    await b.deploy([
      ...receiverFlow({ remoteUrl: a.url, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl: records.url, remote: oauthRemote(B_TO_A, { store: 'st' }) }),
      storeNode(schemaB, 'B'),
    ]);
    const rounds = plan(10, 2, 'p');
    await stream({ change: (operation, record) => postChange(a, operation, record) }, rounds, 4);
    const applied = records;
    await applied.waitFor(() => applied.applies.length >= 20, 90_000, '20 changes applied on B');
    assertExactlyOnceInOrder(applied, rounds);
    const processed = async (schema: string): Promise<number> =>
      (await pgQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.rps_outbound WHERE status = 'processed'`))[0].n;
    await untilStores("B's correlation replies delivered to A", async () => (await processed(schemaB)) === 10, 30_000);

    const read = (schema: string) => async (name: string) => (await pgQuery<{ value: string }>(`SELECT value FROM ${schema}.rps_value WHERE key = $1`, [name]))[0]?.value;
    const held = { a: await secretsOf(secretString(a), read(schemaA)), b: await secretsOf(secretString(b), read(schemaB)) };
    const needles = [...needlesOf('A', held.a), ...needlesOf('B', held.b)];
    for (const [name, schema] of [
      ['A', schemaA],
      ['B', schemaB],
    ] as const) {
      const dump = await pgDump(schema);
      assert.ok(dump.includes(`COPY ${schema}.rps_value`) && dump.includes('rps-sealed:1:'), `the dump of ${name}'s schema holds its values (sealed)`);
      assertNotIn(`pg_dump --schema=${schema} (${name}'s store)`, dump, needles);
    }
  });

  it('credentialSecret false: Node-RED keeps its credentials in clear, and the store its secrets, saying so once', async () => {
    const a = await NodeRedInstance.start({ name: 'A', settings: { credentialSecret: false } });
    instances = [a];
    await a.deploy(senderFlow({ remoteUrl: `http://127.0.0.1:${await freePort()}`, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A }));
    await untilInboundActive(a);
    const key = sqliteValue(a.userDir, SIGNING_KEY);
    assert.ok(key !== undefined && !key.startsWith('rps-sealed:') && Buffer.from(key, 'base64url').length === 32, 'the signing key is kept in clear');
    // A redeploy reads the settings again: still one warning.
    await a.deploy(senderFlow({ remoteUrl: `http://127.0.0.1:${await freePort()}`, remoteName: 'B2', outbound: A_TO_B, inbound: B_TO_A }));
    await untilInboundActive(a);
    assert.equal(a.log.filter((l) => l.includes('the OAuth2 tokens and the token signing key in the rps stores are kept in clear')).length, 1, a.log.join('\n'));
  });

  it('a SQLite store written in clear by an earlier version is sealed at the next start, in its file and its WAL, keeping its signing key', async () => {
    const userDir = mkdtempSync(join(tmpdir(), 'rps-A-'));
    const path = join(userDir, DEFAULT_STORE_FILE);
    const clear = {
      signingKey: randomBytes(32).toString('base64url'),
      held: JSON.stringify({ v: 1, settings: 'old', accessToken: `old-access-${randomBytes(12).toString('hex')}`, refreshToken: `old-refresh-${randomBytes(12).toString('hex')}`, obtainedAt: 0, expiresAt: 1 }),
      removed: JSON.stringify({ v: 1, settings: 'old', accessToken: `removed-access-${randomBytes(12).toString('hex')}`, obtainedAt: 0, expiresAt: 1 }),
    };
    // As the earlier version left it: the signing key in the database file (closed
    // cleanly), two tokens still in the write-ahead log (the process was killed).
    const old = new SqliteStore(path);
    await old.values.write(SIGNING_KEY, clear.signingKey, 1);
    await old.close();
    const script = `
      const db = new (require(${JSON.stringify(require.resolve('better-sqlite3'))}))(${JSON.stringify(path)});
      const put = db.prepare('INSERT INTO rps_value (key, value, updated_at) VALUES (?, ?, 1)');
      put.run(${JSON.stringify(TOKEN)}, ${JSON.stringify(clear.held)});
      put.run(${JSON.stringify(oauthTokenName('removed-node'))}, ${JSON.stringify(clear.removed)});
      process.kill(process.pid, 'SIGKILL');`;
    assert.equal(spawnSync(process.execPath, ['-e', script]).signal, 'SIGKILL');
    const needles = [
      ...keyNeedles('the signing key', clear.signingKey),
      ...textNeedles('the held token', JSON.parse(clear.held).accessToken),
      ...textNeedles('the held refresh token', JSON.parse(clear.held).refreshToken),
      ...textNeedles("a removed node's token", JSON.parse(clear.removed).accessToken),
    ];
    const before = sqliteFiles(userDir);
    assert.deepEqual(before.files, [path, `${path}-wal`]);
    const texts = [clear.signingKey, JSON.parse(clear.held).accessToken, JSON.parse(clear.held).refreshToken, JSON.parse(clear.removed).accessToken] as string[];
    for (const text of texts) assert.ok(before.bytes.includes(text), `${text} is in clear in the files to begin with`);

    const a = await NodeRedInstance.start({ name: 'A', userDir });
    instances = [a];
    const sealed = a.waitForLine(/stored secret\(s\) rewritten/, 60_000);
    sealed.catch(() => undefined);
    // Its remote system takes B's calls with the API user B_TO_A (and calls a B that is not there).
    await a.deploy(senderFlow({ remoteUrl: `http://127.0.0.1:${await freePort()}`, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A }));
    assert.match(await sealed, /: 3 stored secret\(s\) rewritten/);

    // The key was kept: a token A issues now is signed with it (once its inbound side is active).
    await untilInboundActive(a);
    const res = await fetch(`${a.url}/rps/v1/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${Buffer.from(`${B_TO_A.user}:${B_TO_A.password}`).toString('base64')}` },
      body: 'grant_type=client_credentials',
    });
    const issued = (await res.json()) as { access_token: string };
    assert.equal(res.status, 200, JSON.stringify(issued));
    assert.ok(verifyHs256(decodeJwt(issued.access_token)!, Buffer.from(clear.signingKey, 'base64url')), 'signed with the key the store held in clear');

    const secret = secretString(a);
    assertNotIn("A's store while running", sqliteFiles(userDir).bytes, needles);
    await a.kill();
    assertNotIn("A's store after SIGKILL", sqliteFiles(userDir).bytes, needles);
    assert.equal(await openSealed(secret, SIGNING_KEY, sqliteValue(userDir, SIGNING_KEY)), clear.signingKey);
    assert.equal(await openSealed(secret, TOKEN, sqliteValue(userDir, TOKEN)), clear.held);
    assert.equal(await openSealed(secret, oauthTokenName('removed-node'), sqliteValue(userDir, oauthTokenName('removed-node'))), clear.removed);
  });
});
