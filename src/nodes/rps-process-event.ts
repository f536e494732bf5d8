/**
 * rps-process-event (config): the shared, case-sensitive name of one part of a
 * business process; both instances must use the same name.
 */
import { common } from './common';
import type { Node, NodeAPI, NodeDef } from './red';
import { runtimeOf } from './runtime';

interface ProcessEventDef extends NodeDef {
  name: string;
  description?: string;
  domain?: string;
}

export interface ProcessEventNode extends Node {
  eventName: string;
  domain: string | undefined;
}

export default function (RED: NodeAPI): void {
  function RpsProcessEventNode(this: ProcessEventNode, def: ProcessEventDef): void {
    RED.nodes.createNode(this, def);
    this.eventName = def.name ?? '';
    this.domain = def.domain?.trim() || undefined;
    if (this.eventName === '') {
      this.error(RED._('rps-process-event.errors.no-name'));
      return;
    }
    const receiver = runtimeOf(RED).receiver;
    receiver.addProcessEvent(this.eventName);
    this.on('close', (_removed, done) => {
      receiver.removeProcessEvent(this.eventName);
      done();
    });
  }
  RED.nodes.registerType('rps-process-event', RpsProcessEventNode);
}

/** The process event a node refers to, or an error naming what is missing. */
export function processEventOf(RED: NodeAPI, id: string | undefined): ProcessEventNode {
  const node = id ? (RED.nodes.getNode(id) as ProcessEventNode | null) : null;
  if (!node || !node.eventName) throw new Error(common(RED, 'errors.no-process-event'));
  return node;
}
