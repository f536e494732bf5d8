import type { IncomingMessage } from 'node:http';
import { markUnparsed } from '../transport/inbound-http';
import type { HttpRouter, RequestHandler } from './red';

/** Express 4 has no route removal; like the core http-in node, take the layers out of the stack. */
export function removeRoutes(app: HttpRouter, paths: readonly string[]): void {
  const stack = app._router?.stack;
  if (!stack) return;
  for (let i = stack.length - 1; i >= 0; i--) {
    const route = stack[i].route;
    if (route && paths.includes(route.path)) stack.splice(i, 1);
  }
}

/** A path as Express matches it by default: case-insensitive, a trailing slash ignored. */
function normalPath(path: string): string {
  return path.toLowerCase().replace(/\/+$/, '') || '/';
}

/**
 * When httpAdminRoot is a prefix of httpNodeRoot (by default both are "/"), every
 * request passes the admin API's JSON and form parsers before it reaches RED.httpNode:
 * they would read our bodies with their own limits, turn bad UTF-8 into U+FFFD and
 * answer bad JSON with an HTML page and a stack trace. A layer put in front of the
 * server's app marks requests to our routes as "already parsed" for body-parser, so our
 * handlers read (and refuse) the body themselves. Returns the way to take it out.
 */
export function bypassAdminParsers(admin: HttpRouter, fullPaths: readonly string[]): () => void {
  // RED.httpAdmin is mounted inside the app that holds the parsers: go to the top,
  // the server's own app, which every request enters first.
  let top = admin;
  while (top.parent) top = top.parent;
  const ours = new Set(fullPaths.map(normalPath));
  const guard: RequestHandler = (req, _res, next) => {
    const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '';
    if (ours.has(normalPath(original.split('?')[0]))) markUnparsed(req);
    next();
  };
  top.use(guard);
  const stack = top._router?.stack;
  const index = stack ? stack.findIndex((layer) => layer.handle === guard) : -1;
  if (stack && index > 0) stack.unshift(...stack.splice(index, 1));
  return () => {
    const at = stack ? stack.findIndex((layer) => layer.handle === guard) : -1;
    if (stack && at >= 0) stack.splice(at, 1);
  };
}
