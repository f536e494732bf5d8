/**
 * rps-send: writes the captured (and mapped) message into the outbound queue of
 * its remote system; once `done` is called the message is durable. The remote
 * system's outbox then delivers it. Output: the message, with `msg.rps.queued`.
 */
import { randomUUID } from 'node:crypto';
import { changeDraft } from '../core/message';
import { validateMessage } from '../core/protocol';
import { toFields } from '../core/values';
import type { RemoteState } from '../engine/outbox';
import type { RemoteSystem } from '../engine/remote';
import { common, errorText, ThrottledStatus } from './common';
import { outboundContext } from './context';
import type { Node, NodeAPI, NodeDef, NodeStatus } from './red';
import { processEventOf } from './rps-process-event';
import { remoteSystemOf } from './rps-remote-system';
import { runtimeOf } from './runtime';

interface SendDef extends NodeDef {
  remoteSystem?: string;
  processEvent?: string;
}

export default function (RED: NodeAPI): void {
  function RpsSendNode(this: Node, def: SendDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const rt = runtimeOf(RED);
    const status = new ThrottledStatus(node);
    let queued = 0;
    let setup: { remote: ReturnType<typeof remoteSystemOf>; event: ReturnType<typeof processEventOf> } | undefined;
    let setupError: string | undefined;
    try {
      setup = { remote: remoteSystemOf(RED, def.remoteSystem), event: processEventOf(RED, def.processEvent) };
      if (!setup.remote.remote) throw new Error(setup.remote.outboundError ?? RED._('rps-send.errors.no-url'));
    } catch (err) {
      setupError = errorText(err);
      setup = undefined;
      node.status({ fill: 'red', shape: 'ring', text: setupError });
    }

    // Paused by an operator: said before the state, which is what it will be once resumed.
    const show = (state: RemoteState, error: string | undefined): NodeStatus =>
      setup?.remote.remote?.paused
        ? { fill: 'yellow', shape: 'ring', text: RED._('rps-send.status.paused', { count: queued }) }
        : state === 'error'
        ? { fill: 'red', shape: 'ring', text: RED._('rps-send.status.remote-error', { count: queued, error: error ?? '' }) }
        : state === 'disabled'
          ? { fill: 'grey', shape: 'ring', text: RED._('rps-send.status.disabled', { count: queued }) }
          : state === 'loading'
            ? { fill: 'grey', shape: 'dot', text: RED._('rps-send.status.loading', { count: queued }) }
            : { fill: 'green', shape: 'dot', text: RED._('rps-send.status.queued', { count: queued }) };
    const onState = (state: RemoteState, error: string | undefined): void => status.now(show(state, error));
    const onPaused = (): void => {
      const remote = setup?.remote.remote;
      if (remote) onState(remote.state, remote.lastError);
    };
    setup?.remote.remote?.on('state', onState);
    setup?.remote.remote?.on('paused', onPaused);
    if (setup?.remote.remote && (setup.remote.remote.state !== 'active' || setup.remote.remote.paused)) onPaused();

    node.on('input', (msg, send, done) => {
      if (!setup?.remote.remote) {
        done(new Error(setupError ?? common(RED, 'errors.no-remote-system')));
        return;
      }
      const { remote, event } = setup;
      const link = remote.remote!;
      const ctx = outboundContext(msg);
      if (!ctx) {
        done(new Error(common(RED, 'errors.no-context')));
        return;
      }
      // A delta-load record is done once queued (or ended on purpose), failed when refused.
      const fail = (err: Error): void => {
        rt.loads.failed(ctx.load, err.message);
        done(err);
      };
      const finished = (): void => {
        rt.loads.done(ctx.load);
        done();
      };
      // A change an inbound flow made from this remote's message is not sent back to it.
      if (ctx.origin === remote.id) {
        finished();
        return;
      }
      // A record whose link is inactive is not synced (rps-correlate's third output): sent, it
      // would be written over the twin that was deleted, or made again as a new one.
      if (ctx.correlation?.state === 'inactive' && rt.sameLink(ctx.correlation.remoteSystem, remote.id)) {
        status.now({ fill: 'red', shape: 'ring', text: RED._('rps-send.status.inactive') });
        fail(new Error(RED._('rps-send.errors.inactive', { table: ctx.table, id: ctx.id })));
        return;
      }
      let fields;
      try {
        fields = toFields(msg.payload, 'payload');
      } catch (err) {
        status.now({ fill: 'red', shape: 'ring', text: RED._('rps-send.status.bad-payload') });
        fail(new Error(RED._('rps-send.errors.bad-payload', { error: errorText(err) })));
        return;
      }
      const correlation = ctx.correlation && rt.sameLink(ctx.correlation.remoteSystem, remote.id) ? ctx.correlation : undefined;
      // The message names this instance by the store's id: known once the store is open (a
      // PostgreSQL store opens in the background; a message that comes meanwhile waits for it,
      // one that comes while its server cannot be reached fails).
      const store = remote.store;
      const origin = ctx.origin;
      type Queued = Awaited<ReturnType<RemoteSystem['enqueue']>>;
      store
        .opened()
        // Nor to the same remote instance through another remote-system node (compared once both links are read from the store).
        .then(() => origin !== undefined && rt.sameLinkRead(origin, remote.id))
        .then((echo): Promise<Queued | 'echo' | undefined> | 'echo' | undefined => {
          if (echo) return 'echo';
          const draft = changeDraft({
            id: randomUUID(),
            processEvent: event.eventName,
            domain: event.domain,
            instanceId: store.instanceId,
            table: ctx.table,
            recordId: ctx.id,
            target: correlation ? { table: correlation.remoteTable, id: correlation.remoteId } : undefined,
            operation: ctx.operation,
            capturedAt: ctx.capturedAt,
            changedBy: ctx.changedBy,
            interactive: ctx.interactive,
            fields,
            changedFields: ctx.changedFields,
            displayValues: ctx.displayValues,
            journal: ctx.journal,
            attachments: ctx.attachments,
            removedAttachments: ctx.removedAttachments,
          });
          // What the remote would refuse never enters the queue: it could not be delivered, ever.
          const checked = validateMessage({ ...draft, stream: 'check', sequence: 1 });
          if (!checked.ok) {
            status.now({ fill: 'red', shape: 'ring', text: RED._('rps-send.status.bad-payload') });
            fail(new Error(RED._('rps-send.errors.bad-payload', { error: checked.error })));
            return;
          }
          return link.enqueue(draft, ctx.journalOnly === true);
        })
        .then(
          (q) => {
            if (!q) return; // refused above
            if (q === 'echo') {
              finished();
              return;
            }
            if (q.skipped) {
              // Only journal entries the remote has already: nothing to send, nothing wrong.
              send(msg);
              finished();
              return;
            }
            ctx.queued = { remoteSystem: remote.id, queueId: q.id, messageId: q.messageId, sequence: q.sequence };
            // The attachments this message carries count as sent from now on (a failure here only sends them again next time).
            const sentFiles = ctx.attachmentsToRecord;
            delete ctx.attachmentsToRecord;
            if (sentFiles && sentFiles.length > 0) {
              rt.attachmentsOf(store)
                ?.recordSent(sentFiles)
                .catch((err: unknown) => node.warn(RED._('rps-send.warnings.attachments-not-recorded', { error: errorText(err) })));
            }
            queued += 1;
            status.set(() => show(link.state, link.lastError));
            send(msg);
            finished();
          },
          (err: unknown) => {
            status.now({ fill: 'red', shape: 'ring', text: RED._('rps-send.status.store-error') });
            fail(new Error(common(RED, 'errors.store', { error: errorText(err) })));
          },
        );
    });

    node.on('close', (_removed, done) => {
      status.stop();
      setup?.remote.remote?.off('state', onState);
      setup?.remote.remote?.off('paused', onPaused);
      done();
    });
  }
  RED.nodes.registerType('rps-send', RpsSendNode);
}
