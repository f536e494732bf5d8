/**
 * rps-correlate: finds the twin of a record. Outbound (after rps-capture): the
 * remote record our local record is linked with on the configured remote system.
 * Inbound (after rps-inbound): the local record the sender's record is linked with.
 * Output 1: correlated; output 2: not correlated (yet); output 3 (when the node has it):
 * the link is inactive, so the record is not synced. A node saved before the third
 * output counts an inactive link as not correlated, as it always did.
 *
 * `msg.rps.reactivate = true` sets the record's link active again before the lookup (the
 * message then leaves as correlated); `msg.rps.deactivate = true` sets it inactive.
 */
import { migrateConfig } from '../core/config-migrations';
import type { Correlation, CorrelationState } from '../engine/stores';
import { common, errorText, ThrottledStatus } from './common';
import { type InboundContext, inboundContext, linkStateRequest, type OutboundContext, outboundContext } from './context';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './red';
import { remoteSystemOf } from './rps-remote-system';

interface CorrelateDef extends NodeDef {
  remoteSystem?: string;
  /** Send a record whose link is inactive to a third output (else to output 2, as not correlated). */
  inactiveOutput?: boolean;
}

/** Where a message leaves: output 1, 2 or 3. */
type Route = 'correlated' | 'uncorrelated' | 'inactive';
const PORT: Record<Route, number> = { correlated: 0, uncorrelated: 1, inactive: 2 };

export default function (RED: NodeAPI): void {
  function RpsCorrelateNode(this: Node, def: CorrelateDef): void {
    def = migrateConfig('rps-correlate', def);
    RED.nodes.createNode(this, def);
    const node = this;
    const inactiveOutput = def.inactiveOutput === true;
    const status = new ThrottledStatus(node);
    const counts: Record<Route, number> = { correlated: 0, uncorrelated: 0, inactive: 0 };

    const sendTo = (route: Route, msg: NodeMessage, send: (msgs: (NodeMessage | null)[]) => void): void => {
      counts[route] += 1;
      status.set(() => ({ fill: 'green', shape: 'dot', text: RED._('rps-correlate.status.counts', counts) }));
      const out: (NodeMessage | null)[] = [null, null, null];
      out[PORT[route]] = msg;
      send(out);
    };

    /** A lookup whose failure reads, as rps-send's does, as a store error (e.g. its server restarting). */
    const lookup = <T>(found: Promise<T>): Promise<T> =>
      found.catch((err: unknown) => {
        throw new Error(common(RED, 'errors.store', { error: errorText(err) }));
      });

    /**
     * The state the message asks its link to be set to. Deactivating needs the third
     * output: without it an inactive link reads as "not correlated", and the record
     * would be sent as new, which makes a second twin instead of stopping the sync.
     */
    const requestedState = (rps: InboundContext | OutboundContext): CorrelationState | undefined => {
      const request = linkStateRequest(rps);
      if (request === 'both') throw new Error(RED._('rps-correlate.errors.both'));
      if (request === 'inactive' && !inactiveOutput) throw new Error(RED._('rps-correlate.errors.deactivate-without-output'));
      return request;
    };

    /** The link as found (after any state change asked for), checked against the request; the request is consumed. */
    const settled = (rps: InboundContext | OutboundContext, state: CorrelationState | undefined, found: Correlation | undefined): Correlation | undefined => {
      if (state === 'inactive' && !found) throw new Error(RED._('rps-correlate.errors.no-link'));
      // Acted on: a message that passes another correlate (or this one again) does not ask twice.
      delete rps.reactivate;
      delete rps.deactivate;
      return found;
    };

    /** Where a message whose record's link is `found` goes when nothing else decides. */
    const routeOf = (found: Correlation | undefined): Route =>
      found?.state === 'active' ? 'correlated' : found && inactiveOutput ? 'inactive' : 'uncorrelated';

    node.on('input', (msg, send, done) => {
      void (async () => {
        try {
          const inbound = inboundContext(msg);
          if (inbound) {
            const state = requestedState(inbound);
            const remote = remoteSystemOf(RED, inbound.remoteSystem);
            const found = settled(inbound, state, await lookup(remote.correlations.byRemote(inbound.remoteSystem, inbound.source, state)));
            let route = routeOf(found);
            if (found && route !== 'uncorrelated') {
              inbound.correlation = { localTable: found.localTable, localId: found.localId, state: found.state };
            } else if (!found && inbound.target) {
              // The sender knows a twin we have no link for (e.g. a store restored from an older backup): trust it.
              inbound.correlation = { localTable: inbound.target.table, localId: inbound.target.id, state: 'active' };
              route = 'correlated';
            } else {
              inbound.correlation = null;
            }
            // The local record to apply the message to; an inactive link names none (rps-complete links nothing for it).
            if (route === 'correlated' && inbound.correlation) {
              inbound.localTable = inbound.correlation.localTable;
              inbound.localId = inbound.correlation.localId;
            }
            sendTo(route, msg, send);
            done();
            return;
          }
          const outbound = outboundContext(msg);
          if (outbound) {
            const state = requestedState(outbound);
            const remote = remoteSystemOf(RED, def.remoteSystem);
            const found = settled(outbound, state, await lookup(remote.correlations.byLocal(remote.id, outbound, state)));
            const route = routeOf(found);
            outbound.correlation =
              found && route !== 'uncorrelated' ? { remoteSystem: remote.id, remoteTable: found.remoteTable, remoteId: found.remoteId, state: found.state } : null;
            // A delta load cannot always tell a new record from one it read before: a correlated one is not new.
            if (outbound.load && outbound.correlation && outbound.operation === 'insert') outbound.operation = 'update';
            sendTo(route, msg, send);
            done();
            return;
          }
          throw new Error(common(RED, 'errors.no-context'));
        } catch (err) {
          status.now({ fill: 'red', shape: 'ring', text: errorText(err) });
          done(err instanceof Error ? err : new Error(String(err)));
        }
      })();
    });
    node.on('close', (_removed, done) => {
      status.stop();
      done();
    });
  }
  RED.nodes.registerType('rps-correlate', RpsCorrelateNode);
}
