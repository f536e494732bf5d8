/**
 * rps-queue-retry: the error queue and retry mechanism. On a schedule (and once at
 * start) it moves `error` rows of the outbound or inbound queue back to `ready`
 * while they have retries left. Input messages act on rows: `msg.action` =
 * "reprocess", "skip" or "retry" (now), optionally for `msg.ids`; the result goes
 * to output 1. Any other message wired in (e.g. from a Catch node) is held in a
 * durable error queue with its error, and emitted again on output 2 on the schedule
 * until it goes through or has had its retries.
 */
import { type QueueName, type RetryAction, RetryScheduler } from '../engine/retry';
import type { Store } from '../engine/stores';
import { QUEUE_RETRY_NUMBERS, ruledNumber } from '../core/settings';
import { common, errorOf, errorText, logStoreFault, refuseInput, ThrottledStatus } from './common';
import { messageFromText, messageToText } from './message-text';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './red';
import { processEventOf } from './rps-process-event';
import { remoteSystemOf } from './rps-remote-system';
import { storeConfigOf } from './rps-store';
import { runtimeOf, type StoreConfig } from './runtime';

interface QueueRetryDef extends NodeDef {
  queue?: string;
  remoteSystem?: string;
  processEvent?: string;
  store?: string;
  interval?: string | number;
  maxRetries?: string | number;
  settle?: string | number;
}

const ACTIONS: readonly RetryAction[] = ['reprocess', 'skip', 'retry'];

/** Row ids from `msg.ids` (or a number / array of numbers in `msg.payload`); undefined selects every error row. */
function idsOf(msg: NodeMessage): number[] | undefined | Error {
  const raw = msg.ids !== undefined ? msg.ids : typeof msg.payload === 'number' || Array.isArray(msg.payload) ? msg.payload : undefined;
  if (raw === undefined) return undefined;
  const list = Array.isArray(raw) ? raw : [raw];
  const ids = list.map((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v));
  if (!ids.every((v): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0)) return new Error('ids');
  return ids;
}

export default function (RED: NodeAPI): void {
  function RpsQueueRetryNode(this: Node, def: QueueRetryDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const rt = runtimeOf(RED);
    const status = new ThrottledStatus(node);
    const queue: QueueName = def.queue === 'inbound' ? 'inbound' : 'outbound';
    let store: Store;
    let remoteId: string | undefined;
    let eventName: string | undefined;
    try {
      let config: StoreConfig;
      if (def.remoteSystem) {
        const remote = remoteSystemOf(RED, def.remoteSystem);
        remoteId = remote.id;
        config = remote.storeConfig ?? storeConfigOf(RED, undefined);
      } else {
        config = storeConfigOf(RED, def.store);
      }
      if (def.processEvent) eventName = processEventOf(RED, def.processEvent).eventName;
      store = rt.acquireStore(config);
    } catch (err) {
      refuseInput(node, err);
      return;
    }
    const maxRetries = ruledNumber(QUEUE_RETRY_NUMBERS.maxRetries, def.maxRetries);
    const scheduler = new RetryScheduler({
      store,
      queue,
      // The rows of the remote system are under its link key (its remote instance's id once known).
      get remoteSystem() {
        return remoteId === undefined ? undefined : rt.keyOf(remoteId);
      },
      processEvent: eventName,
      maxRetries,
      intervalMs: ruledNumber(QUEUE_RETRY_NUMBERS.interval, def.interval) * 1000,
      owner: node.id,
      settleMs: ruledNumber(QUEUE_RETRY_NUMBERS.settle, def.settle) * 1000,
    });
    let requeued = 0;
    let closing = false;

    const show = (): void => {
      status.set(() => ({ fill: 'grey', shape: 'dot', text: RED._('rps-queue-retry.status.counting') }));
      store.errorQueue
        .count(node.id)
        .then((held) =>
          status.set(() => ({
            fill: held.error + held.failed > 0 ? 'yellow' : 'green',
            shape: 'dot',
            text: RED._('rps-queue-retry.status.counts', { requeued, held: held.error + held.retrying, failed: held.failed }),
          })),
        )
        .catch(() => undefined);
    };

    scheduler.on('requeued', (q, ids) => {
      requeued += ids.length;
      if (q === 'outbound') rt.notifyOutbound(remoteId);
      // All process events of the remote: a skip can free a record another event's inbound waits on.
      else rt.notifyInbound(remoteId);
      show();
    });
    scheduler.on('resend', (item) => {
      let msg: NodeMessage;
      try {
        msg = messageFromText(item.message);
      } catch {
        node.warn(RED._('rps-queue-retry.warnings.unreadable', { id: item.id }));
        scheduler.giveUp(item.id, RED._('rps-queue-retry.warnings.unreadable', { id: item.id })).catch(() => undefined);
        return;
      }
      msg.rpsRetry = { id: item.id, retries: item.retries, lastError: item.error };
      node.send([null, msg]);
      show();
    });
    scheduler.on('fault', (err) => {
      status.now({ fill: 'red', shape: 'ring', text: RED._('rps-queue-retry.status.store-error') });
      logStoreFault(RED, node, err);
    });
    // A PostgreSQL store opens in the background: the schedule starts once it is open.
    store
      .opened(true)
      .then(() => (closing ? undefined : scheduler.start()))
      .catch((err: unknown) => {
        if (!closing) node.error(common(RED, 'errors.store', { error: errorText(err) }));
      });

    node.on('input', (msg, send, done) => {
      void (async () => {
        try {
          // A message is a command only when it carries no error: a caught message whose
          // flow happens to use msg.action must be held, not taken for a command.
          const action = msg.error === undefined && msg.rpsRetry === undefined ? msg.action : undefined;
          if (action !== undefined && action !== null && action !== '') {
            if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) {
              throw new Error(RED._('rps-queue-retry.errors.action', { action: String(action) }));
            }
            const ids = idsOf(msg);
            if (ids instanceof Error) throw new Error(RED._('rps-queue-retry.errors.ids'));
            const target: QueueName = msg.queue === 'inbound' || msg.queue === 'outbound' ? msg.queue : queue;
            msg.payload = await scheduler.act(action as RetryAction, ids, target);
            send([msg, null]);
            done();
            return;
          }
          // Any other message is held: the error a Catch node set, or a held one failing again.
          const error = errorOf(msg) ?? RED._('rps-queue-retry.errors.no-error');
          const retry = msg.rpsRetry as { id?: unknown } | undefined;
          const again = typeof retry?.id === 'number' ? await scheduler.failedAgain(retry.id, error) : undefined;
          if (again === 'failed') node.warn(RED._('rps-queue-retry.warnings.failed', { id: retry?.id, retries: maxRetries, error }));
          if (again === undefined) await scheduler.hold(messageToText(msg), error);
          show();
          done();
        } catch (err) {
          status.now({ fill: 'red', shape: 'ring', text: errorText(err) });
          done(err instanceof Error ? err : new Error(String(err)));
        }
      })();
    });

    node.on('close', (_removed, done) => {
      closing = true;
      scheduler.stop();
      status.stop();
      rt.releaseStore(store)
        .catch((err: unknown) => node.error(common(RED, 'errors.store', { error: errorText(err) })))
        .finally(() => done());
    });
    show();
  }
  RED.nodes.registerType('rps-queue-retry', RpsQueueRetryNode);
}
