/**
 * rps-correlate: finds the twin of a record. Outbound (after rps-capture): the
 * remote record our local record is linked with on the configured remote system.
 * Inbound (after rps-inbound): the local record the sender's record is linked with.
 * Output 1: correlated; output 2: not correlated (yet).
 */
import { common, errorText, ThrottledStatus } from './common';
import { inboundContext, outboundContext } from './context';
import type { Node, NodeAPI, NodeDef } from './red';
import { remoteSystemOf } from './rps-remote-system';

interface CorrelateDef extends NodeDef {
  remoteSystem?: string;
}

export default function (RED: NodeAPI): void {
  function RpsCorrelateNode(this: Node, def: CorrelateDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);
    let correlated = 0;
    let uncorrelated = 0;

    const counted = (isCorrelated: boolean): void => {
      if (isCorrelated) correlated += 1;
      else uncorrelated += 1;
      status.set(() => ({ fill: 'green', shape: 'dot', text: RED._('rps-correlate.status.counts', { correlated, uncorrelated }) }));
    };

    /** A lookup whose failure reads, as rps-send's does, as a store error (e.g. its server restarting). */
    const lookup = <T>(found: Promise<T>): Promise<T> =>
      found.catch((err: unknown) => {
        throw new Error(common(RED, 'errors.store', { error: errorText(err) }));
      });

    node.on('input', (msg, send, done) => {
      void (async () => {
        try {
          const inbound = inboundContext(msg);
          if (inbound) {
            const remote = remoteSystemOf(RED, inbound.remoteSystem);
            const found = await lookup(remote.correlations.byRemote(inbound.remoteSystem, inbound.source));
            if (found && found.state === 'active') {
              inbound.correlation = { localTable: found.localTable, localId: found.localId, state: found.state };
            } else if (!found && inbound.target) {
              // The sender knows a twin we have no link for (e.g. a store restored from an older backup): trust it.
              inbound.correlation = { localTable: inbound.target.table, localId: inbound.target.id, state: 'active' };
            } else {
              inbound.correlation = null;
            }
            if (inbound.correlation) {
              inbound.localTable = inbound.correlation.localTable;
              inbound.localId = inbound.correlation.localId;
            }
            counted(inbound.correlation !== null);
            send(inbound.correlation ? [msg, null] : [null, msg]);
            done();
            return;
          }
          const outbound = outboundContext(msg);
          if (outbound) {
            const remote = remoteSystemOf(RED, def.remoteSystem);
            const found = await lookup(remote.correlations.byLocal(remote.id, outbound));
            outbound.correlation =
              found && found.state === 'active'
                ? { remoteSystem: remote.id, remoteTable: found.remoteTable, remoteId: found.remoteId, state: found.state }
                : null;
            counted(outbound.correlation !== null);
            send(outbound.correlation ? [msg, null] : [null, msg]);
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
