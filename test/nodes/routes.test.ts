/**
 * Where our rps/1 routes are served (serveFirst): ahead of everything Node-RED puts in
 * front of RED.httpNode (here an httpNodeAuth-like gate and a body parser that reads
 * every body), under the HTTP nodes' root, matched as Express matches routes, with
 * sensible answers to other methods; and taken out again without a trace. Express apps
 * mounted like Node-RED's red.js mounts them, on a real loopback server.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { HttpRouter, RequestHandler } from '../../src/nodes/red';
import { serveFirst } from '../../src/nodes/routes';
import { type InboundRoute, inboundRouter } from '../../src/transport/inbound-http';

/** The part of an Express 4 app these tests use (express has no types installed here). */
interface ExpressApp extends HttpRouter {
  (req: IncomingMessage, res: ServerResponse): void;
  use(pathOrHandler: string | RequestHandler | ExpressApp, ...handlers: (RequestHandler | ExpressApp)[]): void;
  set(setting: string, value: unknown): void;
}
const express = require('express') as () => ExpressApp;

/** Our routes, as plain handlers that say what they saw. */
const ROUTES: InboundRoute[] = [
  {
    path: '/rps/v1/handshake',
    method: 'GET',
    handle: (req, res) => res.end(`handshake ${req.method}`),
  },
  {
    path: '/rps/v1/messages',
    method: 'POST',
    handle: (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(`messages ${Buffer.concat(chunks).toString('utf8')}`));
    },
  },
];

interface Answer {
  status: number;
  text: string;
  allow: string | null;
}

describe('serveFirst: the rps/1 routes ahead of httpNodeAuth and the admin parsers', () => {
  let server: Server;
  let base: string;
  let top: ExpressApp;
  let nodeApp: ExpressApp;

  /** Like red.js with httpNodeRoot `/api/`: a body parser for everything, a gate in front of the HTTP nodes, then RED.httpNode. */
  function mountLikeNodeRed(root: string): void {
    top = express();
    const readEveryBody: RequestHandler = (req, _res, next) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        (req as IncomingMessage & { body?: string; _body?: boolean }).body = Buffer.concat(chunks).toString('utf8');
        (req as IncomingMessage & { _body?: boolean })._body = true;
        next();
      });
    };
    top.use(readEveryBody);
    const gate: RequestHandler = (_req, res) => {
      res.statusCode = 401;
      res.end('gate');
    };
    top.use(root, gate);
    nodeApp = express();
    top.use(root, nodeApp);
    nodeApp.get('/mine', (_req, res) => res.end('mine'));
  }

  async function call(method: string, path: string, body?: string): Promise<Answer> {
    const res = await fetch(base + path, { method, body });
    return { status: res.status, text: await res.text(), allow: res.headers.get('allow') };
  }

  beforeEach(async () => {
    mountLikeNodeRed('/api/');
    server = createServer((req, res) => top(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });

  afterEach(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  it('serves our routes under the HTTP nodes root before the gate and the body parser; every other path goes on as before', async () => {
    serveFirst(nodeApp, (matching) => inboundRouter(ROUTES, matching));
    assert.deepEqual(await call('GET', '/api/rps/v1/handshake'), { status: 200, text: 'handshake GET', allow: null });
    assert.deepEqual(await call('POST', '/api/rps/v1/messages', '{"unread":true}'), { status: 200, text: 'messages {"unread":true}', allow: null });
    assert.equal((await call('GET', '/api/mine')).text, 'gate', "the user's routes still pass the gate");
    assert.equal((await call('GET', '/rps/v1/handshake')).status, 404, 'nothing outside the HTTP nodes root');
    assert.equal((await call('GET', '/api/rps/v1/other')).text, 'gate', 'other paths under our prefix are not ours');
  });

  it('matches as Express does by default: any case, one trailing slash, a query', async () => {
    serveFirst(nodeApp, (matching) => inboundRouter(ROUTES, matching));
    for (const path of ['/API/RPS/V1/Handshake', '/api/rps/v1/handshake/', '/api/rps/v1/handshake?x=1', '/api/rps/v1/handshake/?x=1']) {
      assert.equal((await call('GET', path)).text, 'handshake GET', path);
    }
    assert.equal((await call('GET', '/api/rps/v1/handshake//')).text, 'gate', 'two trailing slashes are another path');
  });

  it("follows RED.httpNode's strict and case-sensitive routing when they are set", async () => {
    nodeApp.set('strict routing', true);
    nodeApp.set('case sensitive routing', true);
    serveFirst(nodeApp, (matching) => inboundRouter(ROUTES, matching));
    assert.equal((await call('GET', '/api/rps/v1/handshake')).text, 'handshake GET');
    assert.equal((await call('GET', '/api/rps/v1/handshake/')).text, 'gate');
    assert.equal((await call('GET', '/api/RPS/v1/handshake')).text, 'gate');
  });

  it('HEAD is served by the GET route; OPTIONS answers 204 with Allow; other methods 405 with Allow and a reason', async () => {
    serveFirst(nodeApp, (matching) => inboundRouter(ROUTES, matching));
    assert.deepEqual(await call('HEAD', '/api/rps/v1/handshake'), { status: 200, text: '', allow: null });
    assert.deepEqual(await call('OPTIONS', '/api/rps/v1/messages'), { status: 204, text: '', allow: 'POST' });
    assert.deepEqual(await call('OPTIONS', '/api/rps/v1/handshake'), { status: 204, text: '', allow: 'GET, HEAD' });
    const put = await call('PUT', '/api/rps/v1/messages', 'x');
    assert.equal(put.status, 405);
    assert.equal(put.allow, 'POST');
    assert.deepEqual(JSON.parse(put.text), { error: 'method PUT not allowed here, only POST', code: 'method-not-allowed' });
    assert.equal((await call('GET', '/api/rps/v1/messages')).status, 405);
  });

  it('taken out, leaves the stack as it was: the gate answers again, and serving again adds one layer', async () => {
    const stack = (): number => top._router?.stack.length ?? 0;
    const before = stack();
    const remove = serveFirst(nodeApp, (matching) => inboundRouter(ROUTES, matching));
    assert.equal(stack(), before + 1);
    remove();
    assert.equal(stack(), before);
    assert.equal((await call('GET', '/api/rps/v1/handshake')).text, 'gate');
    remove();
    assert.equal(stack(), before, 'removing twice takes nothing else');
    serveFirst(nodeApp, (matching) => inboundRouter(ROUTES, matching))();
    assert.equal(stack(), before);
  });

  it('at the root (httpNodeRoot "/"), and in RED.httpNode itself while it is not mounted', async () => {
    mountLikeNodeRed('/');
    serveFirst(nodeApp, (matching) => inboundRouter(ROUTES, matching));
    assert.equal((await call('GET', '/rps/v1/handshake')).text, 'handshake GET');
    assert.equal((await call('GET', '/mine')).text, 'gate');

    const lone = express();
    serveFirst(lone, (matching) => inboundRouter(ROUTES, matching));
    top = lone;
    assert.equal((await call('GET', '/rps/v1/handshake')).text, 'handshake GET');
  });
});
