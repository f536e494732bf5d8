/**
 * Flows for end-to-end tests and benchmarks: a sender that captures changes posted to
 * `POST /change` and a receiver that writes them into a RecordsServer, both built
 * only from this package's nodes and Node-RED core nodes, as a user would wire them.
 */
import type { FlowNode } from './nodered';

export interface Credentials {
  /** What the sender presents to the receiver (the receiver's inbound API user). */
  user: string;
  password: string;
}

export const PROCESS_EVENT = 'Record exchange';
export const A_TO_B: Credentials = { user: 'a-calls-b', password: 'secret-ab-0001' };
export const B_TO_A: Credentials = { user: 'b-calls-a', password: 'secret-ba-0002' };

/**
 * Remote-system settings for two instances that use each other's /rps/v1/token: each
 * side's client id and secret are the API user the other side expects of it; both
 * wait for "Validate and activate".
 */
export function mutualOAuthRemote(creds: Credentials): NonNullable<SideOptions['remote']> {
  return {
    authType: 'oauth2-client',
    tokenUrl: '',
    clientId: creds.user,
    activation: 'validate',
    tokenLifetime: '10',
    credentials: { clientSecret: creds.password },
  };
}

export interface SideOptions {
  /** The other instance's base URL. */
  remoteUrl: string;
  remoteName: string;
  /** We present these to the other side. */
  outbound: Credentials;
  /** The other side presents these to us. */
  inbound: Credentials;
  retryDelay?: number;
  retryMaxDelay?: number;
  probeInterval?: number;
  batchSize?: number;
  /** Remote-system properties to set (auth modes, activation...); `credentials` are merged too. */
  remote?: Record<string, unknown> & { credentials?: Record<string, string> };
}

function remoteSystem(id: string, o: SideOptions): FlowNode {
  const { credentials, ...settings } = o.remote ?? {};
  const node = basicRemoteSystem(id, o);
  return { ...node, ...settings, credentials: { ...(node.credentials as Record<string, string>), ...credentials } };
}

function basicRemoteSystem(id: string, o: SideOptions): FlowNode {
  return {
    id,
    type: 'rps-remote-system',
    name: o.remoteName,
    url: o.remoteUrl,
    authType: 'basic',
    batchSize: String(o.batchSize ?? 200),
    maxInFlight: '2',
    timeout: '10',
    retryDelay: String(o.retryDelay ?? 0.2),
    retryMaxDelay: String(o.retryMaxDelay ?? 2),
    maxTries: '3',
    probeInterval: String(o.probeInterval ?? 1),
    linger: '5',
    credentials: {
      user: o.outbound.user,
      password: o.outbound.password,
      inboundUser: o.inbound.user,
      inboundPassword: o.inbound.password,
    },
  };
}

/**
 * capture (table, id field `id`) → correlate ('rs') → map (title ← `titleField`, n, origin 'A')
 * → send ('rs', 'pe', then `sent`), from x onwards on row y 100: the senders' outbound part.
 */
export function outboundChain(z: string, o: { table: string; titleField: string; x: number; sent?: string[] }): FlowNode[] {
  const at = (i: number): { x: number; y: number } => ({ x: o.x + i * 150, y: 100 });
  return [
    { id: 'cap', type: 'rps-capture', z, table: o.table, idField: 'id', insert: true, update: true, delete: true, fields: '', ...at(0), wires: [['cor']] },
    { id: 'cor', type: 'rps-correlate', z, remoteSystem: 'rs', ...at(1), wires: [['map'], ['map']] },
    {
      id: 'map',
      type: 'rps-map',
      z,
      mappings: [
        { target: 'title', type: 'field', value: o.titleField },
        { target: 'n', type: 'field', value: 'n' },
        { target: 'origin', type: 'fixed', value: 'A', valueType: 'str' },
      ],
      keepUnmapped: false,
      ...at(2),
      wires: [['snd']],
    },
    { id: 'snd', type: 'rps-send', z, remoteSystem: 'rs', processEvent: 'pe', ...at(3), wires: [o.sent ?? []] },
  ];
}

/** A: `POST /change {operation, record}` → capture → correlate → map → send → 200 once queued, 500 when it could not be. */
export function senderFlow(o: SideOptions): FlowNode[] {
  const z = 'tab-sender';
  return [
    { id: z, type: 'tab', label: 'Sender' },
    { id: 'pe', type: 'rps-process-event', name: PROCESS_EVENT },
    remoteSystem('rs', o),
    { id: 'in', type: 'http in', z, url: '/change', method: 'post', x: 100, y: 100, wires: [['unpack']] },
    {
      id: 'unpack',
      type: 'change',
      z,
      rules: [
        { t: 'set', p: 'operation', pt: 'msg', to: 'payload.operation', tot: 'msg' },
        { t: 'set', p: 'payload', pt: 'msg', to: 'payload.record', tot: 'msg' },
      ],
      x: 250,
      y: 100,
      wires: [['cap']],
    },
    ...outboundChain(z, { table: 'item', titleField: 'name', x: 400, sent: ['ok'] }),
    // No fixed status: a fixed one wins over msg.statusCode, and the Catch path's 500 (a
    // change that could not be queued) would go out as 200, as if it had been.
    { id: 'ok', type: 'http response', z, statusCode: '', x: 1000, y: 100, wires: [] },
    { id: 'catch', type: 'catch', z, scope: ['unpack', 'cap', 'cor', 'map', 'snd'], x: 100, y: 200, wires: [['fail']] },
    {
      id: 'fail',
      type: 'function',
      z,
      func: 'msg.statusCode = 500; msg.payload = { error: msg.error.message }; return msg;',
      outputs: 1,
      x: 250,
      y: 200,
      wires: [['ok']],
    },
  ];
}

/**
 * B: inbound → correlate → map → a REST call to the records server (create when
 * not correlated, update or delete the twin when correlated) → complete. A Catch
 * node completes the message as failed when the call fails.
 */
export function receiverFlow(
  o: SideOptions & { recordsUrl: string; maxParallel?: number; timeout?: number; retryInterval?: number },
): FlowNode[] {
  const z = 'tab-receiver';
  const toApi = `
const r = msg.rps;
const body = { fields: msg.payload, source: r.source.table + '/' + r.source.id, sequence: r.sequence,
               messageId: r.messageId, redelivered: r.redelivered, capturedAt: r.capturedAt };
if (r.correlation) {
  msg.method = r.operation === 'delete' ? 'DELETE' : 'PUT';
  msg.url = ${JSON.stringify(o.recordsUrl)} + '/records/' + encodeURIComponent(r.correlation.localId);
} else if (r.operation === 'delete') {
  return [null, msg];
} else {
  msg.method = 'POST';
  msg.url = ${JSON.stringify(o.recordsUrl)} + '/records';
}
msg.headers = { 'content-type': 'application/json' };
msg.payload = body;
return [msg, null];`;
  const check = `
if (msg.statusCode !== 200) {
  node.error('records API answered ' + msg.statusCode, msg);
  return null;
}
return msg;`;
  return [
    { id: z, type: 'tab', label: 'Receiver' },
    { id: 'pe', type: 'rps-process-event', name: PROCESS_EVENT },
    remoteSystem('rs', o),
    {
      id: 'inb',
      type: 'rps-inbound',
      z,
      remoteSystem: 'rs',
      processEvent: 'pe',
      maxParallel: String(o.maxParallel ?? 16),
      timeout: String(o.timeout ?? 20),
      gapWait: '30',
      x: 100,
      y: 100,
      wires: [['cor']],
    },
    { id: 'cor', type: 'rps-correlate', z, x: 250, y: 100, wires: [['map'], ['map']] },
    {
      id: 'map',
      type: 'rps-map',
      z,
      mappings: [
        { target: 'name', type: 'field', value: 'title' },
        { target: 'n', type: 'field', value: 'n' },
        { target: 'from', type: 'field', value: 'origin' },
      ],
      keepUnmapped: false,
      x: 400,
      y: 100,
      wires: [['api']],
    },
    { id: 'api', type: 'function', z, name: 'to records API', func: toApi, outputs: 2, x: 550, y: 100, wires: [['http'], ['done']] },
    { id: 'http', type: 'http request', z, method: 'use', ret: 'obj', url: '', x: 700, y: 100, wires: [['check']] },
    { id: 'check', type: 'function', z, name: 'check answer', func: check, outputs: 1, x: 850, y: 100, wires: [['done']] },
    { id: 'done', type: 'rps-complete', z, localTable: 'record', localId: 'payload.id', localIdType: 'msg', x: 1000, y: 100, wires: [[]] },
    { id: 'catch', type: 'catch', z, scope: ['api', 'http', 'check'], x: 700, y: 200, wires: [['done']] },
    ...(o.retryInterval === undefined
      ? []
      : [
          {
            id: 'retry',
            type: 'rps-queue-retry',
            z,
            queue: 'inbound',
            remoteSystem: 'rs',
            processEvent: 'pe',
            interval: String(o.retryInterval),
            maxRetries: '10',
            settle: '60',
            x: 250,
            y: 300,
            wires: [[], []],
          },
        ]),
  ];
}

/**
 * Both directions on one instance: the receiver flow (inbound → records server) and,
 * on a tab of its own, the sender flow (`POST /change` → send), sharing the one remote
 * system and process event.
 */
export function duplexFlow(o: Parameters<typeof receiverFlow>[0]): FlowNode[] {
  const shared = new Set(['pe', 'rs']);
  const renamed = (id: string): string => (shared.has(id) ? id : `out-${id}`);
  const sender = senderFlow(o)
    .filter((n) => !shared.has(n.id))
    .map((n) => {
      const copy: FlowNode = { ...n, id: renamed(n.id) };
      if (typeof n.z === 'string') copy.z = renamed(n.z);
      if (Array.isArray(n.wires)) copy.wires = (n.wires as string[][]).map((port) => port.map(renamed));
      if (Array.isArray(n.scope)) copy.scope = (n.scope as string[]).map(renamed);
      return copy;
    });
  return [...receiverFlow(o), ...sender];
}

/**
 * A sender that syncs every captured change to several remotes: one capture wired to
 * one correlate → map → send chain per remote system (as a user wires one record to
 * many remotes). The first remote's chain answers `POST /change`; each chain's remote
 * system is `rs-<n>` (n from 1).
 */
export function fanOutSenderFlow(remotes: readonly SideOptions[]): FlowNode[] {
  const chain = new Set(['cor', 'map', 'snd', 'rs']);
  const flows = remotes.map((o, i) => {
    const n = i + 1;
    const renamed = (id: string): string => (chain.has(id) ? `${id}-${n}` : id);
    return senderFlow(o).map((node) => {
      const copy: FlowNode = { ...node, id: renamed(node.id) };
      if (Array.isArray(node.wires)) copy.wires = (node.wires as string[][]).map((port) => port.map(renamed));
      if (typeof node.remoteSystem === 'string') copy.remoteSystem = renamed(node.remoteSystem);
      if (Array.isArray(node.scope)) copy.scope = (node.scope as string[]).map(renamed);
      // Only the first chain answers the request; the others end at their send node.
      if (n > 1 && copy.id === `snd-${n}`) copy.wires = [[]];
      if (typeof node.y === 'number' && chain.has(node.id)) copy.y = node.y + 100 * i;
      return copy;
    });
  });
  const [first, ...others] = flows;
  const extra = others.flatMap((f, i) => f.filter((node) => /-\d+$/.test(node.id) && node.id.endsWith(`-${i + 2}`)));
  return first.map((node) => (node.id === 'cap' ? { ...node, wires: [remotes.map((_, i) => `cor-${i + 1}`)] } : node)).concat(extra);
}
