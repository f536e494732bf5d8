/**
 * The editor's "fields seen" route for capture nodes, on RED.httpAdmin and guarded by
 * Node-RED's permissions: GET /rps-capture/:id/fields-seen answers `{ fields }`, the
 * names of the fields capture `id` has seen in the records it was given (the form
 * offers them as suggestions). Mounted while at least one capture node is deployed,
 * removed with the last one.
 */
import type { ServerResponse } from 'node:http';
import { fieldsSeen } from '../capture-fields';
import type { HttpRouter, NodeAPI, RequestHandler } from '../red';
import { removeRoutes } from '../routes';

const FIELDS_SEEN = '/rps-capture/:id/fields-seen';

function reply(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

/**
 * An undeployed id (a node added since the last deploy) answers an empty list, not 404:
 * for the form, "nothing seen yet" is what it means.
 */
const answer: RequestHandler = (req, res) => {
  const id = (req as { params?: Record<string, string> }).params?.id ?? '';
  reply(res, { fields: fieldsSeen(id) });
};

/** Capture nodes using the route, per admin app (each node set gets its own RED, they share the app). */
const users = new WeakMap<HttpRouter, number>();

/** Called by each capture node when it starts; the first one mounts the route. */
export function acquireFieldsSeenRoute(RED: NodeAPI): void {
  const app = RED.httpAdmin;
  const auth = RED.auth;
  // Without the admin API, or without Node-RED's permission checks, the route is not offered at all.
  if (!app || !auth) return;
  const count = (users.get(app) ?? 0) + 1;
  users.set(app, count);
  if (count === 1) app.get(FIELDS_SEEN, auth.needsPermission('rps-capture.read'), answer);
}

/** Called by each capture node when it closes; the last one removes the route. */
export function releaseFieldsSeenRoute(RED: NodeAPI): void {
  const app = RED.httpAdmin;
  const count = app ? users.get(app) : undefined;
  if (!app || count === undefined) return;
  if (count > 1) {
    users.set(app, count - 1);
    return;
  }
  users.delete(app);
  removeRoutes(app, [FIELDS_SEEN]);
}
