/**
 * What the monitor sees of a Node-RED runtime: its open stores and its deployed remote
 * systems with their states, and which node handles a queue's rows. Shared by the
 * plugin (sidebar, page, API, Prometheus) and the rps-stats node.
 */
import type { RemoteSystemNode } from '../nodes/rps-remote-system';
import type { NodeAPI, NodeDef } from '../nodes/red';
import { runtimeOf } from '../nodes/runtime';
import type { MonitorContext, MonitorRemote } from './figures';

type Config = NodeDef & Record<string, unknown>;

/** The deployed nodes' configurations (Node-RED's, with their properties). */
function deployed(RED: NodeAPI): Config[] {
  const out: Config[] = [];
  RED.nodes.eachNode?.((c) => out.push(c));
  return out;
}

export function monitorContext(RED: NodeAPI): MonitorContext {
  const rt = runtimeOf(RED);
  const stores = rt.openStores();
  const configs = deployed(RED);
  const remotes: MonitorRemote[] = [];
  for (const c of configs) {
    if (c.type !== 'rps-remote-system') continue;
    const node = RED.nodes.getNode(c.id) as RemoteSystemNode | null;
    const open = node?.store ? stores.find((s) => s.store === node.store) : undefined;
    if (!node || !open) continue;
    const states = node.states();
    remotes.push({
      id: c.id,
      name: c.name || c.id,
      storeKey: open.key,
      linkKey: rt.keyOf(c.id),
      outbound: states.outbound,
      inbound: states.inbound,
      ...(states.outboundError ? { outboundError: states.outboundError } : {}),
      ...(states.inboundError ? { inboundError: states.inboundError } : {}),
      paused: (states as { paused?: boolean }).paused === true,
    });
  }
  const eventNames = new Map(configs.filter((c) => c.type === 'rps-process-event').map((c) => [c.id, String(c.name ?? '')]));
  return {
    stores,
    remotes,
    now: Date.now(),
    handlerOf(direction, remoteSystem, processEvent) {
      // A send node, like an inbound node, is for one process event: a remote system with
      // several has one of each, and a row is shown with the node of its own event.
      const type = direction === 'outbound' ? 'rps-send' : 'rps-inbound';
      const found = configs.find((c) => c.type === type && c.remoteSystem === remoteSystem && eventNames.get(String(c.processEvent)) === processEvent);
      return found?.id;
    },
  };
}
