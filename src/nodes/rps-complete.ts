/**
 * rps-complete: ends the processing of one inbound message. Without `msg.error` the
 * message is `processed` and the local record id (from the configured property, or
 * from the correlation) links the record with its twin: a new link is sent back to
 * the remote so its later changes arrive as updates. With `msg.error` (a Catch node
 * sets it) the message is `error` and holds back later changes of its record. A message
 * of an inactive link (rps-correlate's third output) is `processed` and links nothing.
 */
import { completionOutcome } from '../engine/complete';
import { common, errorOf, errorText, idText, ThrottledStatus } from './common';
import { attachmentContext, inboundContext } from './context';
import { finishAttachment } from './rps-attachment-sync';
import type { Node, NodeAPI, NodeDef } from './red';
import type { InboundNode } from './rps-inbound';
import { remoteSystemOf } from './rps-remote-system';

interface CompleteDef extends NodeDef {
  localTable?: string;
  localId?: string;
  localIdType?: string;
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
          const file = attachmentContext(msg);
          if (file) {
            // A file from rps-attachment-sync: ended on the node that emitted it.
            const result = await finishAttachment(RED, msg, file);
            if (result === 'stale') node.warn(RED._('rps-complete.warnings.stale-file', { id: file.fileId }));
            else if (errorOf(msg) === undefined) processed += 1;
            else failed += 1;
            status.set(() => ({ fill: failed > 0 ? 'yellow' : 'green', shape: 'dot', text: RED._('rps-complete.status.counts', { processed, failed }) }));
            send(msg);
            done();
            return;
          }
          const ctx = inboundContext(msg);
          if (!ctx) throw new Error(common(RED, 'errors.no-context'));
          const inbound = RED.nodes.getNode(ctx.inboundNode) as InboundNode | null;
          if (!inbound?.finish) throw new Error(RED._('rps-complete.errors.no-inbound'));
          const flowError = errorOf(msg);
          let localId: string | undefined;
          let localTable = '';
          const inactive = ctx.correlation?.state === 'inactive';
          if (flowError === undefined && !inactive) {
            localId = idText(RED.util.evaluateNodeProperty(idProperty, idType, node, msg)) ?? ctx.localId ?? ctx.correlation?.localId;
            localTable = (def.localTable ?? '').trim() || ctx.localTable || ctx.correlation?.localTable || ctx.source.table;
          }
          const outcome = completionOutcome({
            queueId: ctx.queueId,
            attempt: ctx.attempt,
            flowError,
            inactive,
            localId,
            localTable,
            operation: ctx.operation,
            processEvent: ctx.processEvent,
            source: ctx.source,
            noLocalId: () => RED._('rps-complete.errors.no-local-id', { property: idProperty }),
            replyFrom: () => {
              const remote = remoteSystemOf(RED, ctx.remoteSystem);
              return remote.remote ? remote.store : undefined;
            },
            now: new Date(),
          });
          if (outcome.local) {
            ctx.localId = outcome.local.id;
            ctx.localTable = outcome.local.table;
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
