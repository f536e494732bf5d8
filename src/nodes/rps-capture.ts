/**
 * rps-capture: decides whether a local record change must be sent and turns it into
 * a capture message (`msg.payload` = included fields, `msg.rps` = what changed).
 * In: `msg.payload` the record after the change, optional `msg.previous`,
 * `msg.operation`, `msg.changedBy`, `msg.interactive`.
 */
import { captureChange, type CaptureDefinition, parseFieldList } from '../core/capture';
import type { Operation } from '../core/protocol';
import { ThrottledStatus } from './common';
import { inboundContext, type OutboundContext } from './context';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './red';

interface CaptureDef extends NodeDef {
  table?: string;
  idField?: string;
  insert?: boolean;
  update?: boolean;
  delete?: boolean;
  fields?: string;
}

/** The remote system a change came from, if an inbound flow made it (so it is not echoed back). */
function originOf(msg: NodeMessage): string | undefined {
  const inbound = inboundContext(msg);
  if (inbound) return inbound.remoteSystem;
  const rps = msg.rps as { origin?: unknown } | undefined;
  return typeof rps?.origin === 'string' ? rps.origin : undefined;
}

export default function (RED: NodeAPI): void {
  function RpsCaptureNode(this: Node, def: CaptureDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const operations: Operation[] = [];
    if (def.insert !== false) operations.push('insert');
    if (def.update !== false) operations.push('update');
    if (def.delete !== false) operations.push('delete');
    const capture: CaptureDefinition = {
      table: (def.table ?? '').trim(),
      idField: (def.idField ?? '').trim() || 'id',
      operations,
      fields: parseFieldList(def.fields ?? ''),
    };
    const status = new ThrottledStatus(node);
    let captured = 0;
    let ignored = 0;
    if (capture.table === '') node.status({ fill: 'red', shape: 'ring', text: RED._('rps-capture.status.no-table') });

    node.on('input', (msg, send, done) => {
      if (capture.table === '') {
        done(new Error(RED._('rps-capture.errors.no-table')));
        return;
      }
      const result = captureChange(
        capture,
        {
          record: msg.payload,
          previous: msg.previous,
          operation: typeof msg.operation === 'string' ? msg.operation : undefined,
          changedBy: typeof msg.changedBy === 'string' ? msg.changedBy : undefined,
          interactive: typeof msg.interactive === 'boolean' ? msg.interactive : undefined,
        },
        new Date(),
      );
      if (result.kind === 'invalid') {
        status.now({ fill: 'red', shape: 'ring', text: RED._(`rps-capture.errors.${result.code}`) });
        done(new Error(RED._(`rps-capture.errors.${result.code}`) + `: ${result.error}`));
        return;
      }
      if (result.kind === 'ignored') {
        ignored += 1;
        status.set(() => ({ fill: 'grey', shape: 'dot', text: RED._('rps-capture.status.counts', { captured, ignored }) }));
        done();
        return;
      }
      const c = result.capture;
      const rps: OutboundContext = {
        direction: 'outbound',
        table: c.table,
        id: c.id,
        operation: c.operation,
        capturedAt: c.capturedAt,
        interactive: c.interactive,
        changedFields: c.changedFields,
      };
      if (c.changedBy) rps.changedBy = c.changedBy;
      const origin = originOf(msg);
      if (origin) rps.origin = origin;
      msg.payload = c.fields;
      msg.rps = rps;
      captured += 1;
      status.set(() => ({ fill: 'green', shape: 'dot', text: RED._('rps-capture.status.counts', { captured, ignored }) }));
      send(msg);
      done();
    });
    node.on('close', (_removed, done) => {
      status.stop();
      done();
    });
  }
  RED.nodes.registerType('rps-capture', RpsCaptureNode);
}
