/**
 * Starts the "Two help desks" example (or "Two-way sync with comments") on two real Node-RED instances with the
 * embedded SQLite store: used by `npm start` and by the end-to-end test of the demo.
 */
import { randomBytes } from 'node:crypto';
import { DESK_A, DESK_B, desk, type DeskSpec } from './examples';
import { type FlowNode, NodeRedInstance } from '../tools/nodered';

export interface Desk {
  spec: DeskSpec;
  instance: NodeRedInstance;
}

export interface DemoOptions {
  portA: number;
  portB: number;
  userDirA?: string;
  userDirB?: string;
  echo?: boolean;
  /** The desks of "Two-way sync with comments" (with comments and work notes) instead. */
  journal?: boolean;
}

/** The example flow with the other desk's real URL and the credentials of this run (never stored in the flow JSON). */
function flowsFor(spec: DeskSpec, otherUrl: string, outbound: { user: string; password: string }, inbound: { user: string; password: string }, journal = false): FlowNode[] {
  return desk(spec, journal).map((n) =>
    n.type === 'rps-remote-system'
      ? {
          ...n,
          url: otherUrl,
          credentials: { user: outbound.user, password: outbound.password, inboundUser: inbound.user, inboundPassword: inbound.password },
        }
      : n,
  );
}

export async function startDemo(o: DemoOptions): Promise<{ a: Desk; b: Desk }> {
  const aCallsB = { user: 'desk-a', password: randomBytes(18).toString('base64url') };
  const bCallsA = { user: 'desk-b', password: randomBytes(18).toString('base64url') };
  const [a, b] = await Promise.all([
    NodeRedInstance.start({ name: 'desk-a', port: o.portA, userDir: o.userDirA, echo: o.echo }),
    NodeRedInstance.start({ name: 'desk-b', port: o.portB, userDir: o.userDirB, echo: o.echo }),
  ]);
  await a.deploy(flowsFor(DESK_A, b.url, aCallsB, bCallsA, o.journal));
  await b.deploy(flowsFor(DESK_B, a.url, bCallsA, aCallsB, o.journal));
  return { a: { spec: DESK_A, instance: a }, b: { spec: DESK_B, instance: b } };
}
