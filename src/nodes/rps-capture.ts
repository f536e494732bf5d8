/**
 * rps-capture: decides whether a local record change must be sent and turns it into
 * a capture message (`msg.payload` = included fields, `msg.rps` = what changed).
 * In: `msg.payload` the record after the change, optional `msg.previous`,
 * `msg.operation`, `msg.changedBy`, `msg.interactive`, `msg.displayValues`.
 * The decision is core's (captureChange, with its condition); what the capture keeps of
 * records for its "changes…" rules is the engine's CaptureMemory, in the chosen store.
 */
import { captureChange, type CaptureDefinition, changeRecordId, type CaptureResult, type IgnoredReason, keptFields, type RecordChange } from '../core/capture';
import { compileCondition, type ConditionGroup } from '../core/condition';
import { migrateConfig } from '../core/config-migrations';
import type { Operation } from '../core/protocol';
import { CaptureMemory } from '../engine/capture-memory';
import { type FieldClock, fieldClockOf } from '../engine/field-clock';
import { type LoadMark, loadMarkOf } from '../engine/delta-load';
import type { Store } from '../engine/stores';
import { acquireFieldsSeenRoute, releaseFieldsSeenRoute } from './admin/fields-seen';
import { forgetFieldsSeen, noteFieldsSeen } from './capture-fields';
import { common, errorText, ThrottledStatus } from './common';
import { inboundContext, type OutboundContext } from './context';
import type { DoneFn, Node, NodeAPI, NodeDef, NodeMessage, SendFn } from './red';
import { storeConfigOf } from './rps-store';
import { runtimeOf } from './runtime';

interface CaptureDef extends NodeDef {
  table?: string;
  idField?: string;
  insert?: boolean;
  update?: boolean;
  delete?: boolean;
  includedFields?: unknown;
  conditions?: unknown;
  captureNonInteractive?: boolean;
  journalFields?: unknown;
  /** Stamp each changed field with its capture time, for the conflict policy of two-way sync (absent: no). */
  fieldTimes?: boolean;
  /** An rps-store config node; none: the default SQLite file. */
  store?: string;
}

/** The status words of each reason a change was ignored, in the order the status lists them. */
const IGNORED_KEYS: Readonly<Record<IgnoredReason, string>> = {
  operation: 'rps-capture.status.ignored-operation',
  condition: 'rps-capture.status.ignored-condition',
  unchanged: 'rps-capture.status.ignored-unchanged',
  'non-interactive': 'rps-capture.status.ignored-non-interactive',
};
const IGNORED_REASONS = Object.keys(IGNORED_KEYS) as IgnoredReason[];

/** The remote system a change came from, if an inbound flow made it (so it is not echoed back). */
function originOf(msg: NodeMessage): string | undefined {
  const inbound = inboundContext(msg);
  if (inbound) return inbound.remoteSystem;
  const rps = msg.rps as { origin?: unknown } | undefined;
  return typeof rps?.origin === 'string' ? rps.origin : undefined;
}

/** The delta-load record a change is (rps-delta-load's mark), carried into the capture message. */
function loadOf(msg: NodeMessage): LoadMark | undefined {
  const rps = msg.rps as { load?: unknown } | undefined;
  return loadMarkOf(rps?.load);
}

function fieldNames(raw: unknown): string[] {
  return Array.isArray(raw) ? raw.filter((f): f is string => typeof f === 'string').map((f) => f.trim()).filter((f) => f !== '') : [];
}

function changeOf(msg: NodeMessage): RecordChange {
  return {
    record: msg.payload,
    previous: msg.previous,
    operation: typeof msg.operation === 'string' ? msg.operation : undefined,
    changedBy: typeof msg.changedBy === 'string' ? msg.changedBy : undefined,
    interactive: typeof msg.interactive === 'boolean' ? msg.interactive : undefined,
    displayValues: msg.displayValues,
  };
}

export default function (RED: NodeAPI): void {
  function RpsCaptureNode(this: Node, def: CaptureDef): void {
    def = migrateConfig('rps-capture', def);
    RED.nodes.createNode(this, def);
    const node = this;
    const rt = runtimeOf(RED);
    acquireFieldsSeenRoute(RED);
    const operations: Operation[] = [];
    if (def.insert !== false) operations.push('insert');
    if (def.update !== false) operations.push('update');
    if (def.delete !== false) operations.push('delete');
    let condition: ConditionGroup[] = [];
    let configError: string | undefined;
    try {
      condition = compileCondition(def.conditions);
    } catch (err) {
      configError = RED._('rps-capture.errors.bad-condition', { error: errorText(err) });
    }
    const capture: CaptureDefinition = {
      table: (def.table ?? '').trim(),
      idField: (def.idField ?? '').trim() || 'id',
      operations,
      fields: fieldNames(def.includedFields),
      condition,
      captureNonInteractive: def.captureNonInteractive !== false,
      journalFields: fieldNames(def.journalFields),
    };
    if (capture.table === '') configError = RED._('rps-capture.errors.no-table');

    // What the capture keeps of records, only when a rule compares with the past.
    let store: Store | undefined;
    let memory: CaptureMemory | undefined;
    let clock: FieldClock | undefined;
    if (!configError && def.fieldTimes === true) {
      try {
        store = rt.acquireStore(storeConfigOf(RED, def.store));
        clock = fieldClockOf(store);
      } catch (err) {
        configError = common(RED, 'errors.store-open', { error: errorText(err) });
      }
    }
    if (!configError && keptFields(capture).length > 0) {
      try {
        store ??= rt.acquireStore(storeConfigOf(RED, def.store));
        memory = new CaptureMemory(store.captureStates, node.id, capture.table, {
          // On PostgreSQL, other Node-RED processes with the same flows may capture the same records.
          shared: store.kind === 'postgres',
          onError: (err) => node.warn(RED._('rps-capture.errors.state-write', { error: errorText(err) })),
        });
      } catch (err) {
        configError = common(RED, 'errors.store-open', { error: errorText(err) });
      }
    }

    const status = new ThrottledStatus(node);
    let captured = 0;
    const ignored = new Map<IgnoredReason, number>();
    const counts = (): string => {
      const parts = IGNORED_REASONS.filter((r) => ignored.has(r)).map((r) => RED._(IGNORED_KEYS[r], { count: ignored.get(r) }));
      const text = RED._('rps-capture.status.captured', { count: captured });
      return parts.length === 0 ? text : `${text}; ${RED._('rps-capture.status.ignored', { reasons: parts.join(', ') })}`;
    };
    if (configError) {
      node.status({ fill: 'red', shape: 'ring', text: RED._(capture.table === '' ? 'rps-capture.status.no-table' : 'rps-capture.status.bad-config') });
      node.error(configError);
    }

    /** Counts the decided change and, when it is sent, makes its message; an invalid change gives the error for done(). */
    const finish = (msg: NodeMessage, result: CaptureResult): Error | undefined => {
      const load = loadOf(msg);
      if (result.kind === 'invalid') {
        status.now({ fill: 'red', shape: 'ring', text: RED._(`rps-capture.errors.${result.code}`) });
        const err = new Error(RED._(`rps-capture.errors.${result.code}`) + `: ${result.error}`);
        rt.loads.failed(load, err.message);
        return err;
      }
      if (result.kind === 'ignored') {
        ignored.set(result.reason, (ignored.get(result.reason) ?? 0) + 1);
        status.set(() => ({ fill: 'grey', shape: 'dot', text: counts() }));
        // Ended on purpose: a delta load may move its watermark past it.
        rt.loads.done(load);
        return undefined;
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
      if (c.displayValues) rps.displayValues = c.displayValues;
      if (c.journal.length > 0) rps.journal = c.journal;
      if (c.journalOnly) rps.journalOnly = true;
      const origin = originOf(msg);
      if (origin) rps.origin = origin;
      if (load) rps.load = load;
      msg.payload = c.fields;
      msg.rps = rps;
      captured += 1;
      status.set(() => ({ fill: 'green', shape: 'dot', text: counts() }));
      return undefined;
    };

    /**
     * With field times, a captured change's fields are stamped before it goes on (so that
     * a queued change always has its stamps), in the order the changes came. A change an
     * inbound flow made is stamped, and sent back to where it came from too, only when it
     * wrote over a local change captured meanwhile (core/conflict's overwroteLocalChange).
     */
    let out: Promise<void> = Promise.resolve();
    const timed = (msg: NodeMessage, send: SendFn, done: DoneFn, result: CaptureResult, fieldClock: FieldClock): void => {
      const err = finish(msg, result);
      if (err || result.kind !== 'captured') {
        out = out.then(() => done(err));
        return;
      }
      const c = result.capture;
      const rps = msg.rps as OutboundContext;
      const at = Date.parse(c.capturedAt);
      const stamped = (async (): Promise<void> => {
        if (c.operation === 'delete' || c.changedFields.length === 0) return;
        if (rps.origin !== undefined && !(c.operation === 'update' && (await fieldClock.overwroteLocal(c.table, c.id, c.changedFields)))) return;
        delete rps.origin;
        await fieldClock.stampLocal({ table: c.table, id: c.id, changedFields: c.changedFields, at });
      })();
      out = out.then(() =>
        stamped.then(
          () => {
            send(msg);
            done();
          },
          (e: unknown) => {
            status.now({ fill: 'red', shape: 'ring', text: RED._('rps-capture.status.state-unavailable') });
            const err = new Error(RED._('rps-capture.errors.stamp', { error: errorText(e) }));
            rt.loads.failed(rps.load, err.message);
            done(err);
          },
        ),
      );
    };

    /** A decided change goes on: stamped first with field times, at once without. */
    const emit = (msg: NodeMessage, send: SendFn, done: DoneFn, result: CaptureResult): void => {
      if (clock) {
        timed(msg, send, done, result, clock);
        return;
      }
      const err = finish(msg, result);
      if (!err && result.kind === 'captured') send(msg);
      done(err);
    };

    node.on('input', (msg, send, done) => {
      if (configError) {
        rt.loads.failed(loadOf(msg), configError);
        done(new Error(configError));
        return;
      }
      noteFieldsSeen(node.id, msg.payload);
      const change = changeOf(msg);
      if (!memory) {
        emit(msg, send, done, captureChange(capture, change, new Date()));
        return;
      }
      // In turn with the changes before it: the one before may be this record's last state.
      memory
        .inTurn(changeRecordId(capture, change), (lastSeen) => {
          const result = captureChange(capture, { ...change, lastSeen }, new Date());
          return { result, seen: result.kind === 'invalid' ? undefined : result.seen };
        })
        .then(
          (result) => {
            // Node-RED wraps only the synchronous handler: what throws here goes to done().
            try {
              emit(msg, send, done, result);
            } catch (err) {
              done(err instanceof Error ? err : new Error(String(err)));
            }
          },
          (err: unknown) => {
            status.now({ fill: 'red', shape: 'ring', text: RED._('rps-capture.status.state-unavailable') });
            const e = new Error(RED._('rps-capture.errors.state-read', { error: errorText(err) }));
            rt.loads.failed(loadOf(msg), e.message);
            done(e);
          },
        );
    });

    node.on('close', (removed, done) => {
      status.stop();
      const taken = out;
      releaseFieldsSeenRoute(RED);
      if (removed) forgetFieldsSeen(node.id);
      void (async () => {
        try {
          // The changes already taken are stamped and sent on (or failed) before the node goes.
          await taken;
          if (memory) await (removed ? memory.clear() : memory.flush());
        } catch (err) {
          node.warn(RED._('rps-capture.errors.state-write', { error: errorText(err) }));
        }
        try {
          if (store) await rt.releaseStore(store);
        } catch (err) {
          node.error(common(RED, 'errors.store', { error: errorText(err) }));
        } finally {
          done();
        }
      })();
    });
  }
  RED.nodes.registerType('rps-capture', RpsCaptureNode);
}
