/**
 * rps-map: builds the target record from `msg.payload` with the configured field
 * mappings (field, display value, fixed value, value map, JSONata expression), and
 * renames `msg.rps.changedFields` to match. The rules are in core/mapping.ts; this
 * adapter gives them Node-RED's JSONata.
 *
 * On an inbound update of a correlated record it also applies the conflict policy
 * (core/conflict.ts): the fields whose local value is newer are left out of
 * `msg.payload` and listed in `msg.rps.conflicts`, and noted on the inbound row.
 */
import { CONFLICT_POLICIES, type ConflictDecision, type ConflictPolicy, DEFAULT_CONFLICT_WINDOW_MS } from '../core/conflict';
import { applyMappings, compileMappings, type ExpressionCompiler, hasExpressions, type Mapping, MappingRunError, type MappingRow } from '../core/mapping';
import type { Fields } from '../core/protocol';
import { toFields } from '../core/values';
import { fieldClockOf } from '../engine/field-clock';
import { common, errorText, ThrottledStatus } from './common';
import { inboundContext } from './context';
import type { DoneFn, Node, NodeAPI, NodeDef, NodeMessage, SendFn } from './red';
import { remoteSystemOf } from './rps-remote-system';

interface MapDef extends NodeDef {
  mappings?: MappingRow[];
  keepUnmapped?: boolean;
  /** For inbound updates: core/conflict's policy (absent: last writer wins). */
  conflicts?: string;
  /** For the `local` policy, in seconds. */
  conflictWindow?: string | number;
}

function policyOf(raw: unknown): ConflictPolicy {
  return CONFLICT_POLICIES.find((p) => p === raw) ?? 'last-writer';
}

function windowOf(raw: unknown): number {
  const seconds = Number(raw);
  return raw !== '' && raw !== undefined && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : DEFAULT_CONFLICT_WINDOW_MS;
}

/**
 * Compiles expressions with Node-RED's own JSONata (so $env, $flowContext, $moment…
 * work as in the change node). `$` is the record; `$previous` and `$rps` are bound on
 * the prepared expression before each evaluation, which is safe only because the node
 * maps one message at a time (see `queue` below).
 */
function expressionCompiler(RED: NodeAPI, node: Node): ExpressionCompiler {
  return (expression) => {
    const prepared = RED.util.prepareJSONataExpression(expression, node);
    // Node-RED evaluates against { msg: input } when the text mentions `msg` (a mode kept
    // for old change nodes). Here `$` is the record, so `msg` is a field name like any other.
    prepared._legacyMode = false;
    return (scope) =>
      new Promise((resolve, reject) => {
        prepared.assign('previous', scope.previous);
        prepared.assign('rps', scope.rps);
        RED.util.evaluateJSONataExpression(prepared, scope.record, (err, value) => (err ? reject(err) : resolve(value)));
      });
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export default function (RED: NodeAPI): void {
  function RpsMapNode(this: Node, def: MapDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);
    let mappings: Mapping[] | undefined;
    let configError: string | undefined;
    try {
      mappings = compileMappings(def.mappings ?? [], expressionCompiler(RED, node));
    } catch (err) {
      configError = errorText(err);
      node.status({ fill: 'red', shape: 'ring', text: RED._('rps-map.status.bad-mapping') });
      node.error(RED._('rps-map.errors.bad-mapping', { error: configError }));
    }
    // Only expressions read msg.previous: without one, a message is not refused for it.
    const readsPrevious = mappings !== undefined && hasExpressions(mappings);
    let mapped = 0;
    const policy = policyOf(def.conflicts);
    const windowMs = windowOf(def.conflictWindow);

    /**
     * The conflict decision of an inbound update of a correlated record (undefined for
     * anything else: an insert, a delete, an outbound change, a record not linked yet).
     */
    function decide(msg: NodeMessage, fields: Fields, changedFields: readonly string[]): Promise<ConflictDecision> | undefined {
      const inbound = inboundContext(msg);
      if (!inbound || inbound.operation !== 'update') return undefined;
      const table = inbound.correlation?.localTable ?? inbound.localTable;
      const id = inbound.correlation?.localId ?? inbound.localId;
      const at = Date.parse(inbound.capturedAt);
      if (!table || !id || !Number.isFinite(at)) return undefined;
      const clock = fieldClockOf(remoteSystemOf(RED, inbound.remoteSystem).store);
      return clock
        .decide({ policy, windowMs, remote: { at, instance: inbound.source.instanceId }, table, id, fields: Object.keys(fields), changedFields, queueId: inbound.queueId })
        .catch((err: unknown) => {
          throw new Error(common(RED, 'errors.store', { error: errorText(err) }));
        });
    }

    function refuse(done: DoneFn, statusText: string, error: string): void {
      status.now({ fill: 'red', shape: 'ring', text: statusText });
      done(new Error(error));
    }

    async function map(msg: NodeMessage, send: SendFn, done: DoneFn): Promise<void> {
      if (!mappings) {
        done(new Error(RED._('rps-map.errors.bad-mapping', { error: configError })));
        return;
      }
      let fields: Fields;
      let previous: Fields | undefined;
      try {
        fields = toFields(msg.payload, 'payload');
      } catch (err) {
        refuse(done, RED._('rps-map.status.bad-payload'), RED._('rps-map.errors.bad-payload', { error: errorText(err) }));
        return;
      }
      try {
        previous = readsPrevious && isRecord(msg.previous) ? toFields(msg.previous, 'previous') : undefined;
      } catch (err) {
        refuse(done, RED._('rps-map.status.bad-previous'), RED._('rps-map.errors.bad-previous', { error: errorText(err) }));
        return;
      }
      const rps = isRecord(msg.rps) ? msg.rps : undefined;
      const changedIn = Array.isArray(rps?.changedFields) ? rps.changedFields.filter((f): f is string => typeof f === 'string') : Object.keys(fields);
      // Without msg.rps there is no telling what changed: treat it as new.
      const isNew = rps?.operation === undefined || rps.operation === 'insert';
      const displayValues = isRecord(rps?.displayValues) ? rps.displayValues : undefined;
      let result;
      try {
        result = await applyMappings(mappings, { fields, changedFields: changedIn, isNew, displayValues, previous, rps }, def.keepUnmapped === true);
      } catch (err) {
        if (!(err instanceof MappingRunError)) throw err;
        const key = err.reason === 'evaluation' ? 'rps-map.errors.expression' : 'rps-map.errors.result';
        refuse(done, RED._('rps-map.status.expression-failed'), RED._(key, { row: err.row, target: err.target, error: err.detail }));
        return;
      }
      msg.payload = result.fields;
      if (rps) {
        rps.changedFields = result.changedFields;
        if (result.displayValues) rps.displayValues = result.displayValues;
        else delete rps.displayValues;
      }
      const decision = rps ? decide(msg, result.fields, result.changedFields) : undefined;
      // The decision is one store call for many messages: the next message is mapped
      // meanwhile, and messages still leave in the order they came.
      out = out.then(async () => {
        try {
          if (decision) applyDecision(msg, await decision);
        } catch (err) {
          status.now({ fill: 'red', shape: 'ring', text: errorText(err) });
          done(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        mapped += 1;
        status.set(() => ({
          fill: 'green',
          shape: 'dot',
          text: conflicted === 0 ? RED._('rps-map.status.mapped', { count: mapped }) : RED._('rps-map.status.mapped-conflicts', { count: mapped, conflicts: conflicted }),
        }));
        send(msg);
        done();
      });
    }

    function applyDecision(msg: NodeMessage, d: ConflictDecision): void {
      const rps = msg.rps as Record<string, unknown>;
      if (d.drop.length > 0) {
        const dropped = new Set(d.drop);
        const fields = msg.payload as Fields;
        for (const field of dropped) delete fields[field];
        rps.changedFields = (rps.changedFields as string[]).filter((f) => !dropped.has(f));
        if (isRecord(rps.displayValues)) for (const field of dropped) delete rps.displayValues[field];
      }
      rps.conflicts = d.conflicts;
      if (d.conflicts.length > 0) conflicted += 1;
    }

    // One message at a time, in the order they came: an expression takes a varying number
    // of turns of the event loop, so mapping them side by side could reorder the records
    // of a sync (and mix up the `$previous`/`$rps` bindings of a shared expression).
    let queue: Promise<void> = Promise.resolve();
    /** Messages mapped, waiting for their conflict decision, leave in this order. */
    let out: Promise<void> = Promise.resolve();
    let conflicted = 0;
    node.on('input', (msg, send, done) => {
      queue = queue.then(() => map(msg, send, done)).catch((err: unknown) => done(err instanceof Error ? err : new Error(String(err))));
    });
    node.on('close', (_removed, done) => {
      status.stop();
      // The messages already taken are finished (sent or failed) before the node goes.
      void queue.then(() => out).then(done);
    });
  }
  RED.nodes.registerType('rps-map', RpsMapNode);
}
