/**
 * The capture form's "fields seen" admin route: served behind Node-RED's permission
 * check for rps-capture.read, answering the names a capture noted (an empty list for a
 * node that noted none), mounted while a capture node uses it and removed with the
 * last. An Express app stands for RED.httpAdmin, on a real loopback server.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { acquireFieldsSeenRoute, releaseFieldsSeenRoute } from '../../src/nodes/admin/fields-seen';
import { forgetFieldsSeen, noteFieldsSeen } from '../../src/nodes/capture-fields';
import type { HttpRouter, NodeAPI, RequestHandler } from '../../src/nodes/red';
import { closeServer, listenOnLoopback } from '../../tools/http';

/** The part of an Express 4 app these tests use (express has no types installed here). */
interface ExpressApp extends HttpRouter {
  (req: IncomingMessage, res: ServerResponse): void;
}
const express = require('express') as () => ExpressApp;

/** Only a request with this header passes the permission check (like adminAuth with a token). */
const ALLOWED = 'x-test-allowed';

describe('rps-capture "fields seen" admin route', () => {
  let server: Server;
  let base: string;
  let permissions: string[];
  let RED: NodeAPI;

  beforeEach(async () => {
    const app = express();
    permissions = [];
    const needsPermission = (permission: string): RequestHandler => {
      permissions.push(permission);
      return (req, res, next) => {
        if (req.headers[ALLOWED] === 'yes') next();
        else {
          res.statusCode = 401;
          res.end();
        }
      };
    };
    // Only what the route module reads of RED.
    RED = { httpAdmin: app, auth: { needsPermission } } as unknown as NodeAPI;
    server = createServer(app);
    base = await listenOnLoopback(server);
  });

  afterEach(async () => {
    await closeServer(server);
    forgetFieldsSeen('cap1');
  });

  async function get(id: string, allowed = true): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${base}/rps-capture/${encodeURIComponent(id)}/fields-seen`, { headers: allowed ? { [ALLOWED]: 'yes' } : {} });
    const text = await res.text();
    return { status: res.status, body: res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text };
  }

  it('answers the names a capture saw, sorted, behind the rps-capture.read permission', async () => {
    acquireFieldsSeenRoute(RED);
    noteFieldsSeen('cap1', { state: 1, number: 'INC1' });
    noteFieldsSeen('cap1', { number: 'INC2', priority: 2 });
    assert.deepEqual(permissions, ['rps-capture.read']);
    assert.deepEqual(await get('cap1'), { status: 200, body: { fields: ['number', 'priority', 'state'] } });
    assert.equal((await get('cap1', false)).status, 401, 'the permission check comes first');
    assert.deepEqual(await get('not-deployed'), { status: 200, body: { fields: [] } }, 'a node that saw nothing: an empty list');
    releaseFieldsSeenRoute(RED);
  });

  it('is mounted once while captures use it and removed with the last one', async () => {
    assert.equal((await get('cap1')).status, 404, 'not mounted before a capture starts');
    acquireFieldsSeenRoute(RED);
    acquireFieldsSeenRoute(RED);
    assert.deepEqual(permissions, ['rps-capture.read'], 'mounted once');
    releaseFieldsSeenRoute(RED);
    assert.equal((await get('cap1')).status, 200, 'still mounted while one capture uses it');
    releaseFieldsSeenRoute(RED);
    assert.equal((await get('cap1')).status, 404, 'removed with the last capture');
    releaseFieldsSeenRoute(RED);
    acquireFieldsSeenRoute(RED);
    assert.equal((await get('cap1')).status, 200, 'a release too many does not keep the next capture from mounting it');
    releaseFieldsSeenRoute(RED);
    assert.equal((await get('cap1')).status, 404);
  });

  it('is not offered without the admin API or its permission checks', async () => {
    assert.doesNotThrow(() => {
      acquireFieldsSeenRoute({ auth: RED.auth } as unknown as NodeAPI);
      releaseFieldsSeenRoute({ auth: RED.auth } as unknown as NodeAPI);
    });
    const unguarded = { httpAdmin: RED.httpAdmin } as unknown as NodeAPI;
    acquireFieldsSeenRoute(unguarded);
    assert.equal((await get('cap1')).status, 404, 'no unguarded route');
    releaseFieldsSeenRoute(unguarded);
  });
});
