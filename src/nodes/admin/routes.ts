/**
 * The editor's admin routes for remote systems, on RED.httpAdmin and guarded by
 * Node-RED's permissions: the state shown in the form (read) and "Validate and
 * activate" (write). Mounted while at least one remote system is deployed, removed
 * with the last one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LOAD_WAIT_MS, StateNotLoadedError, type ValidationAnswer, type RemoteStates } from '../../engine/remote-link';
import type { Node, NodeAPI, RequestHandler } from '../red';
import { removeRoutes } from '../routes';

/** What these routes need of a deployed remote-system node (see rps-remote-system). */
export interface AdminRemote extends Node {
  states(): RemoteStates;
  /** Resolves true once the states are read from the store, false when `timeoutMs` passed first. */
  whenLoaded(timeoutMs: number): Promise<boolean>;
  validate(): Promise<ValidationAnswer>;
  /**
   * Pauses the remote system (nothing sent, nothing received emitted; messages keep
   * queueing), remembered across restarts; resolves with the states once the pause is
   * committed to the store and in effect. Rejects with StateNotLoadedError while the
   * states are still being read.
   */
  pause(): Promise<RemoteStates>;
  /** Undoes pause(): committed first, then what waited is sent and emitted. */
  resume(): Promise<RemoteStates>;
}

const STATE = '/rps-remote-system/:id/state';
const VALIDATE = '/rps-remote-system/:id/validate';

type AdminRequest = IncomingMessage & { params?: Record<string, string>; query?: Record<string, unknown> };

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

export class AdminRoutes {
  private users = 0;

  constructor(private readonly RED: NodeAPI) {}

  private remoteOf(req: AdminRequest, res: ServerResponse): AdminRemote | undefined {
    const id = req.params?.id ?? '';
    const node = this.RED.nodes.getNode(id) as AdminRemote | null;
    if (!node || node.type !== 'rps-remote-system' || typeof node.validate !== 'function') {
      reply(res, 404, { error: this.RED._('rps-remote-system.errors.not-deployed') });
      return undefined;
    }
    return node;
  }

  /**
   * The states, `loading` until they are read from the store. With `?wait=<ms>` (at most
   * LOAD_WAIT_MS) the answer waits until they are read, so that the form and tests need
   * not poll a Node-RED that has just started.
   */
  private readonly state: RequestHandler = (req, res) => {
    const node = this.remoteOf(req as AdminRequest, res);
    if (!node) return;
    const wait = Math.min(LOAD_WAIT_MS, Math.max(0, Number((req as AdminRequest).query?.wait) || 0));
    if (wait === 0) {
      reply(res, 200, node.states());
      return;
    }
    void node.whenLoaded(wait).then(() => reply(res, 200, node.states()));
  };

  private readonly validate: RequestHandler = (req, res) => {
    const node = this.remoteOf(req as AdminRequest, res);
    if (!node) return;
    node.validate().then(
      (answer) => reply(res, 200, answer),
      // The reason only: a stack trace or request details could carry a secret.
      (err: unknown) => reply(res, err instanceof StateNotLoadedError ? 503 : 500, { error: err instanceof Error ? err.message : String(err) }),
    );
  };

  acquire(): void {
    this.users += 1;
    const app = this.RED.httpAdmin;
    const auth = this.RED.auth;
    // Without Node-RED's permission checks the routes are not offered at all.
    if (this.users !== 1 || !app || !auth) return;
    app.get(STATE, auth.needsPermission('rps-remote-system.read'), this.state);
    app.post(VALIDATE, auth.needsPermission('rps-remote-system.write'), this.validate);
  }

  release(): void {
    this.users -= 1;
    if (this.users === 0 && this.RED.httpAdmin) removeRoutes(this.RED.httpAdmin, [STATE, VALIDATE]);
  }
}
