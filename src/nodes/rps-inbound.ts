/**
 * rps-inbound: the receiving end of one process event from one remote system. The
 * shared routes (`POST /rps/v1/messages`) store what arrives; this node emits the
 * stored messages into the inbound flow in sequence order per record and keeps
 * each one open until rps-complete reports how it ended.
 */
import type { InboundDelivery } from '../engine/inbox';
import { Inbox } from '../engine/inbox';
import type { InboundState } from '../engine/receiver';
import type { FinishResult, InboundOutcome } from '../engine/stores';
import { INBOUND_NUMBERS, ruledNumber } from '../core/settings';
import { common, errorText, logStoreFault, ThrottledStatus } from './common';
import type { InboundContext } from './context';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './red';
import { processEventOf } from './rps-process-event';
import { remoteSystemOf } from './rps-remote-system';
import { runtimeOf } from './runtime';

interface InboundDef extends NodeDef {
  remoteSystem?: string;
  processEvent?: string;
  maxParallel?: string | number;
  timeout?: string | number;
  gapWait?: string | number;
}

export interface InboundNode extends Node {
  /** How rps-complete reports the end of a message; undefined when the node could not start. */
  finish: ((outcome: InboundOutcome) => Promise<FinishResult>) | undefined;
}

function messageOf(nodeId: string, remoteSystem: string, d: InboundDelivery): NodeMessage {
  const m = d.message;
  const rps: InboundContext = {
    direction: 'inbound',
    inboundNode: nodeId,
    queueId: d.row.id,
    attempt: d.attempt,
    redelivered: d.attempt > 1,
    messageId: m.id,
    remoteSystem,
    processEvent: m.processEvent,
    operation: m.operation,
    sequence: m.sequence,
    source: m.source,
    capturedAt: m.capturedAt,
    interactive: m.interactive,
    changedFields: m.changedFields,
    journal: m.journal,
    attachments: m.attachments,
  };
  if (m.target) rps.target = m.target;
  if (m.changedBy) rps.changedBy = m.changedBy;
  if (m.displayValues) rps.displayValues = m.displayValues;
  if (m.removedAttachments) rps.removedAttachments = m.removedAttachments;
  return { payload: m.fields, topic: m.processEvent, rps };
}

export default function (RED: NodeAPI): void {
  function RpsInboundNode(this: InboundNode, def: InboundDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    node.finish = undefined;
    const rt = runtimeOf(RED);
    const status = new ThrottledStatus(node);
    let remote: ReturnType<typeof remoteSystemOf>;
    let event;
    try {
      remote = remoteSystemOf(RED, def.remoteSystem);
      event = processEventOf(RED, def.processEvent);
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: errorText(err) });
      node.error(errorText(err));
      return;
    }
    const remoteId = remote.id;
    const eventName = event.eventName;
    const store = remote.store;
    let finished = 0;
    // Paused by an operator: what is in the flow finishes, nothing more is emitted.
    const show = (): void =>
      status.set(() =>
        remote.paused()
          ? { fill: 'yellow', shape: 'ring', text: RED._('rps-inbound.status.paused', { active: inbox.active, finished }) }
          : { fill: 'green', shape: 'dot', text: RED._('rps-inbound.status.counts', { active: inbox.active, finished }) },
      );

    const timeoutSec = ruledNumber(INBOUND_NUMBERS.timeout, def.timeout);
    const inbox = new Inbox({
      store,
      // The link key of the remote system's rows: its remote instance's id once known.
      get remoteSystem() {
        return rt.keyOf(remoteId);
      },
      processEvent: eventName,
      owner: rt.owner,
      stats: rt.statsOf(store),
      maxParallel: ruledNumber(INBOUND_NUMBERS.maxParallel, def.maxParallel),
      processingTimeoutMs: timeoutSec * 1000,
      gapWaitMs: ruledNumber(INBOUND_NUMBERS.gapWait, def.gapWait) * 1000,
      timeoutError: RED._('rps-inbound.errors.timeout', { seconds: timeoutSec }),
      emit: (delivery) => {
        node.send(messageOf(node.id, remoteId, delivery));
        show();
      },
      // Paused (this remote system or another node of its link), or not known yet whether it is.
      held: () => rt.inboundHeld(remoteId),
    });
    inbox.on('timeout', (rows) => {
      for (const row of rows) {
        node.warn(RED._('rps-inbound.errors.timeout-row', { id: row.id, messageId: row.messageId }));
      }
      status.now({ fill: 'yellow', shape: 'ring', text: RED._('rps-inbound.status.timeout', { count: rows.length }) });
    });
    inbox.on('gap', (gaps) => {
      for (const { row, applied } of gaps) {
        node.warn(RED._('rps-inbound.warnings.gap', { id: row.id, sequence: row.sequence, applied, source: `${row.sourceTable}/${row.sourceId}` }));
      }
    });
    inbox.on('stale', (rows) => {
      // Visible: a message not applied because a later one of its record already was.
      for (const row of rows) node.warn(RED._('rps-inbound.warnings.stale', { id: row.id, sequence: row.sequence }));
      rt.notifyInbound(remoteId);
    });
    inbox.on('fault', (err) => {
      status.now({ fill: 'red', shape: 'ring', text: RED._('rps-inbound.status.store-error') });
      logStoreFault(RED, node, err);
    });

    node.finish = async (outcome) => {
      const result = await inbox.finish(outcome);
      // Sequences are per record, across process events: the next message of this record
      // may wait in another rps-inbound of the same remote system.
      rt.notifyInbound(remoteId);
      // A correlation reply was queued with it: the remote system's sender sends it.
      if (result === 'replied') rt.remotes.get(remoteId)?.outbox.queued(1);
      finished += 1;
      show();
      return result;
    };
    rt.receiver.addEndpoint(remoteId, eventName, inbox);
    inbox.start().catch((err: unknown) => node.error(common(RED, 'errors.store', { error: errorText(err) })));
    // The remote system's inbound state: nothing arrives while it is disabled, while it
    // lacks the settings that let the remote call us (its API user, say), or while
    // settings.js turns off the HTTP node routes (ours among them).
    const uncallable = remote.expectInbound();
    const onInbound = (state: InboundState): void => {
      if (!rt.servesInbound) status.now({ fill: 'red', shape: 'ring', text: RED._('rps-inbound.status.no-node-http') });
      else if (uncallable) status.now({ fill: 'red', shape: 'ring', text: uncallable });
      else if (state === 'disabled') status.now({ fill: 'grey', shape: 'ring', text: RED._('rps-inbound.status.disabled') });
      else if (state === 'loading') status.now({ fill: 'grey', shape: 'dot', text: RED._('rps-inbound.status.loading') });
      else if (remote.paused()) status.now({ fill: 'yellow', shape: 'ring', text: RED._('rps-inbound.status.paused', { active: inbox.active, finished }) });
      else status.now({ fill: 'grey', shape: 'dot', text: RED._('rps-inbound.status.waiting') });
    };
    const onPaused = (): void => onInbound(remote.inboundState());
    remote.inboundEvents.on('inbound', onInbound);
    remote.inboundEvents.on('paused', onPaused);
    onInbound(remote.inboundState());

    node.on('close', (_removed, done) => {
      rt.receiver.removeEndpoint(remoteId, eventName, inbox);
      remote.inboundEvents.off('inbound', onInbound);
      remote.inboundEvents.off('paused', onPaused);
      status.stop();
      node.finish = undefined;
      inbox
        .stop()
        .catch((err: unknown) => node.error(common(RED, 'errors.store', { error: errorText(err) })))
        .finally(() => done());
    });
  }
  RED.nodes.registerType('rps-inbound', RpsInboundNode);
}
