/**
 * rps-complete: ends the processing of one inbound message. Without `msg.error` the
 * message is `processed` and the local record id (from the configured property, or
 * from the correlation) links the record with its twin: a new link is sent back to
 * the remote so its later changes arrive as updates. With `msg.error` (a Catch node
 * sets it) the message is `error` and holds back later changes of its record.
 */
import { randomUUID } from 'node:crypto';
import { correlationDraft } from '../core/message';
import type { InboundOutcome } from '../store/store';
import { common, errorOf, errorText, ThrottledStatus } from './common';
import { inboundContext } from './context';
import type { Node, NodeAPI, NodeDef } from './red';
import type { InboundNode } from './rps-inbound';
import { remoteSystemOf } from './rps-remote-system';

interface CompleteDef extends NodeDef {
  localTable?: string;
  localId?: string;
  localIdType?: string;
}

function idText(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

export default function (RED: NodeAPI): void {
  function RpsCompleteNode(this: Node, def: CompleteDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);
    let processed = 0;
    let failed = 0;
    const idProperty = (def.localId ?? '').trim() || 'payload.id';
    const idType = def.localIdType || 'msg';

    node.on('input', (msg, send, done) => {
      void (async () => {
        try {
          const ctx = inboundContext(msg);
          if (!ctx) throw new Error(common(RED, 'errors.no-context'));
          const inbound = RED.nodes.getNode(ctx.inboundNode) as InboundNode | null;
          if (!inbound?.finish) throw new Error(RED._('rps-complete.errors.no-inbound'));
          const flowError = errorOf(msg);
          let outcome: InboundOutcome;
          if (flowError !== undefined) {
            outcome = { id: ctx.queueId, attempt: ctx.attempt, status: 'error', error: flowError };
          } else {
            const fromMsg = idText(RED.util.evaluateNodeProperty(idProperty, idType, node, msg));
            const localId = fromMsg ?? ctx.localId ?? ctx.correlation?.localId;
            const localTable = (def.localTable ?? '').trim() || ctx.localTable || ctx.correlation?.localTable || ctx.source.table;
            if (localId === undefined && ctx.operation !== 'delete') {
              // Without the id, later changes of this record would create a second twin.
              const reason = RED._('rps-complete.errors.no-local-id', { property: idProperty });
              outcome = { id: ctx.queueId, attempt: ctx.attempt, status: 'error', error: reason };
            } else {
              outcome = { id: ctx.queueId, attempt: ctx.attempt, status: 'processed' };
              if (localId !== undefined) {
                const remote = remoteSystemOf(RED, ctx.remoteSystem);
                outcome.local = { table: localTable, id: localId };
                outcome.deactivate = ctx.operation === 'delete';
                // Only a remote we can call gets the link back (without a URL the queue would only
                // grow), and a deleted record needs no link.
                if (remote.remote && !outcome.deactivate) outcome.reply = correlationDraft({
                  id: randomUUID(),
                  processEvent: ctx.processEvent,
                  instanceId: remote.store.instanceId,
                  local: outcome.local,
                  remote: { table: ctx.source.table, id: ctx.source.id },
                  now: new Date(),
                });
                ctx.localId = localId;
                ctx.localTable = localTable;
              }
            }
          }
          const result = await inbound.finish(outcome);
          if (result === 'stale') {
            // Already finished, or emitted again since: nothing was recorded, nothing is counted.
            node.warn(RED._('rps-complete.warnings.stale', { id: ctx.queueId, attempt: ctx.attempt }));
          } else if (outcome.status === 'error') {
            failed += 1;
            status.now({ fill: 'red', shape: 'ring', text: RED._('rps-complete.status.counts', { processed, failed }) });
            // The row records the error; a flow error already went to Catch nodes once, so only our own is raised.
            if (flowError === undefined) {
              done(new Error(outcome.error));
              return;
            }
          } else {
            processed += 1;
            status.set(() => ({ fill: 'green', shape: 'dot', text: RED._('rps-complete.status.counts', { processed, failed }) }));
          }
          send(msg);
          done();
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
  RED.nodes.registerType('rps-complete', RpsCompleteNode);
}
