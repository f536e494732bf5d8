import type { ApiHandler, RouteMatching } from '../engine/runtime';
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

/**
 * Serves our routes (the rps/1 API) under the HTTP nodes' root, from the first layer of
 * the server's own Express app: the one every request enters first, found as
 * RED.httpNode's top-most parent (not RED.httpAdmin's, which is not mounted when
 * `httpAdminRoot` is false). Node-RED puts in front of RED.httpNode what is meant for the
 * user's `http in` nodes: `httpNodeAuth` (which would answer 401 to our callers, as it
 * claims the `Authorization` header our own authentication uses), and, when the admin
 * root is a prefix of the node root (by default both are "/"), the admin API's CORS
 * handler and body parsers (which would read our bodies with their own limits and answer
 * bad JSON with an HTML page). Serving first is safe because every route authenticates
 * its caller itself (a remote system's API user, our tokens or a trusted JWT), with its
 * own rate, failure and size limits. `httpNodeMiddleware` never applied to these routes
 * (Node-RED gives it to `http in` routes only), and `httpNodeCors` is for browsers, which
 * have no business calling them. Every other path goes on to Node-RED unchanged.
 *
 * Paths are matched as RED.httpNode would match them (its case-sensitivity and strict
 * routing settings). When RED.httpNode is not mounted (yet), e.g. in an embedding app
 * that mounts it later, the layer goes first in RED.httpNode itself, as routes there
 * would. Returns the way to take it out again.
 */
export function serveFirst(httpNode: HttpRouter, api: (matching: RouteMatching) => ApiHandler): () => void {
  let top = httpNode;
  while (top.parent) top = top.parent;
  const serve = api({
    prefix: (httpNode.path?.() ?? '').replace(/\/+$/, ''),
    caseSensitive: httpNode.enabled?.('case sensitive routing') ?? false,
    strict: httpNode.enabled?.('strict routing') ?? false,
  });
  const layer: RequestHandler = (req, res, next) => {
    if (!serve(req, res)) next();
  };
  top.use(layer);
  const stack = top._router?.stack;
  const index = stack ? stack.findIndex((l) => l.handle === layer) : -1;
  if (stack && index > 0) stack.unshift(...stack.splice(index, 1));
  return () => {
    const at = stack ? stack.findIndex((l) => l.handle === layer) : -1;
    if (stack && at >= 0) stack.splice(at, 1);
  };
}
