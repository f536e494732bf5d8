/**
 * The monitor's admin API (JSON, under the editor's admin root): the figures, and the
 * operator's actions on queue rows and remote systems. Nothing here knows Node-RED:
 * plugin.ts mounts these handlers behind RED.auth.needsPermission and gives them a host
 * that reaches the runtime. Bad requests answer 400 with a reason and change nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Direction } from '../core/stats';
import type { QueueFilter, Store } from '../store/store';
import { maskedPayload } from '../core/mask';
import { type Figures, type GatherOptions, gatherFigures, type MonitorContext, type MonitorFilter, storeId } from './figures';

/** What an action needs of a deployed remote system (rps-remote-system's node methods). */
export interface ActionRemote {
  validate(): Promise<unknown>;
  pause(): Promise<unknown>;
  resume(): Promise<unknown>;
}

export interface MonitorHost {
  context(): MonitorContext;
  remote(id: string): ActionRemote | undefined;
  /** Rows of a remote system (node id; all when undefined) went back to ready: wake its sender or dispatchers. */
  requeued(direction: Direction, remoteSystem: string | undefined): void;
  /** Attachment files of `store` are wanted again: its attachment service should ask for them now, not at its next poll. */
  filesRequeued?(store: Store): void;
  /** The Prometheus text and its content type. */
  prometheus(figures: Figures): Promise<{ type: string; text: string }>;
  /** An action changed rows or states: the figures pushed to editors should follow soon. */
  changed(): void;
  /** Words for the reasons of refusals (the node layer's i18n). */
  text(key: string, params?: Record<string, string>): string;
}

type Request = IncomingMessage & { params?: Record<string, string>; query?: Record<string, unknown>; body?: unknown };
export type Handler = (req: Request, res: ServerResponse) => void;

export function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(text);
}

/** A request the API cannot act on: answered 400 with the reason. */
class BadRequest extends Error {}

function optionalText(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || v.length > 500) throw new BadRequest(what);
  return v;
}

/** The filter of a query string or body: store, remoteSystem, processEvent (all optional). */
export function filterOf(source: Record<string, unknown> | undefined, text: MonitorHost['text']): MonitorFilter {
  const s = source ?? {};
  const store = optionalText(s.store, text('api.bad-filter', { name: 'store' }));
  const remoteSystem = optionalText(s.remoteSystem, text('api.bad-filter', { name: 'remoteSystem' }));
  const processEvent = optionalText(s.processEvent, text('api.bad-filter', { name: 'processEvent' }));
  return { ...(store ? { store } : {}), ...(remoteSystem ? { remoteSystem } : {}), ...(processEvent ? { processEvent } : {}) };
}

/** A list of 1 to 10000 row ids (positive integers). */
function idsOf(v: unknown, text: MonitorHost['text']): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 10_000 || !v.every((i) => Number.isSafeInteger(i) && (i as number) > 0)) throw new BadRequest(text('api.bad-ids'));
  return v as number[];
}

/** What a retry or skip acts on: selected rows of one queue of one store, or every error row of a filter. */
interface RowAction {
  directions: Direction[];
  filter: MonitorFilter;
  ids?: number[];
}

function rowActionOf(body: unknown, text: MonitorHost['text']): RowAction {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest(text('api.bad-body'));
  const b = body as Record<string, unknown>;
  const filter = filterOf(b, text);
  const direction = b.direction;
  if (direction !== undefined && direction !== 'outbound' && direction !== 'inbound') throw new BadRequest(text('api.bad-direction'));
  if (b.ids !== undefined) {
    const ids = idsOf(b.ids, text);
    // Row ids are per store and per queue: selected rows must name both.
    if (direction === undefined || filter.store === undefined) throw new BadRequest(text('api.ids-need-queue'));
    return { directions: [direction], filter, ids };
  }
  if (b.all !== true) throw new BadRequest(text('api.no-rows'));
  return { directions: direction === undefined ? ['outbound', 'inbound'] : [direction], filter };
}

/** Which files a file retry acts on: inbound-file row ids of one store. */
function fileActionOf(body: unknown, text: MonitorHost['text']): { store: string; ids: number[] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest(text('api.bad-body'));
  const b = body as Record<string, unknown>;
  const store = optionalText(b.store, text('api.bad-filter', { name: 'store' }));
  // File ids are per store: a retry names it.
  if (store === undefined) throw new BadRequest(text('api.files-need-store'));
  return { store, ids: idsOf(b.ids, text) };
}

export class MonitorApi {
  constructor(private readonly host: MonitorHost) {}

  figures(filter: MonitorFilter, options?: GatherOptions): Promise<Figures> {
    return gatherFigures(this.host.context(), filter, options);
  }

  private guard(res: ServerResponse, work: () => Promise<void>): void {
    work().catch((err: unknown) => {
      if (err instanceof BadRequest) reply(res, 400, { error: err.message });
      // A remote system whose states are not read yet (its store is opening): try again.
      else if (err instanceof Error && err.name === 'StateNotLoadedError') reply(res, 503, { error: err.message });
      // The reason only: a stack trace or request details could carry a secret.
      else reply(res, 500, { error: err instanceof Error ? err.message : String(err) });
    });
  }

  readonly getFigures: Handler = (req, res) => {
    this.guard(res, async () => reply(res, 200, await this.figures(filterOf(req.query, this.host.text))));
  };

  readonly getMetrics: Handler = (_req, res) => {
    this.guard(res, async () => {
      // Prometheus shows no rows: only the sums are read.
      const { type, text } = await this.host.prometheus(await this.figures({}, { errorRows: 0 }));
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
      res.end(text);
    });
  };

  /** One queue row's payload, masked (`?store=&direction=&id=`): what pushed figures leave out. */
  readonly getPayload: Handler = (req, res) => {
    this.guard(res, async () => {
      const q = req.query ?? {};
      const direction = q.direction;
      const id = Number(q.id);
      if ((direction !== 'outbound' && direction !== 'inbound') || !Number.isSafeInteger(id) || id <= 0) throw new BadRequest(this.host.text('api.bad-row'));
      const store = this.host.context().stores.find((s) => storeId(s.key) === q.store);
      if (!store) throw new BadRequest(this.host.text('api.unknown-store'));
      const row = direction === 'outbound' ? await store.store.outbound.get(id) : await store.store.inbound.get(id);
      if (!row) {
        reply(res, 404, { error: this.host.text('api.unknown-row') });
        return;
      }
      reply(res, 200, { payload: maskedPayload(row.payload) });
    });
  };

  /** Error rows back to ready (tries start again, counted as a retry). */
  readonly retry: Handler = (req, res) => {
    this.guard(res, async () => reply(res, 200, { count: await this.act(rowActionOf(req.body, this.host.text), 'retry') }));
  };

  /** Error rows (and selected ready rows) to skipped. */
  readonly skip: Handler = (req, res) => {
    this.guard(res, async () => reply(res, 200, { count: await this.act(rowActionOf(req.body, this.host.text), 'skip') }));
  };

  /** Attachment files in error back to wanted, from their first byte: the attachment service asks for them again at once. */
  readonly retryFiles: Handler = (req, res) => {
    this.guard(res, async () => {
      const action = fileActionOf(req.body, this.host.text);
      const open = this.host.context().stores.find((s) => storeId(s.key) === action.store);
      if (!open) throw new BadRequest(this.host.text('api.unknown-store'));
      const count = await open.store.inboundFiles.retry(action.ids, Date.now());
      if (count > 0) this.host.filesRequeued?.(open.store);
      this.host.changed();
      reply(res, 200, { count });
    });
  };

  private async act(action: RowAction, kind: 'retry' | 'skip'): Promise<number> {
    const ctx = this.host.context();
    const stores = ctx.stores.filter((s) => action.filter.store === undefined || storeId(s.key) === action.filter.store);
    if (action.filter.store !== undefined && stores.length === 0) throw new BadRequest(this.host.text('api.unknown-store'));
    const remote = action.filter.remoteSystem === undefined ? undefined : ctx.remotes.find((r) => r.id === action.filter.remoteSystem);
    const filter: QueueFilter = {
      ...(action.filter.remoteSystem !== undefined ? { remoteSystem: remote?.linkKey ?? action.filter.remoteSystem } : {}),
      ...(action.filter.processEvent !== undefined ? { processEvent: action.filter.processEvent } : {}),
      ...(action.ids ? { ids: action.ids } : {}),
    };
    const now = Date.now();
    let count = 0;
    for (const s of stores) {
      for (const d of action.directions) {
        const queue = d === 'outbound' ? s.store.outbound : s.store.inbound;
        const ids = kind === 'retry' ? await queue.requeue(filter, true, now) : await queue.skip(filter, now);
        count += ids.length;
        // A skipped row no longer holds back its record: the rows behind it may go now.
        if (ids.length > 0) this.host.requeued(d, action.filter.remoteSystem);
      }
    }
    this.host.changed();
    return count;
  }

  private remoteOf(req: Request, res: ServerResponse): ActionRemote | undefined {
    const remote = this.host.remote(req.params?.id ?? '');
    if (!remote) reply(res, 404, { error: this.host.text('api.unknown-remote') });
    return remote;
  }

  readonly validate: Handler = (req, res) => {
    const remote = this.remoteOf(req, res);
    if (remote) this.guard(res, async () => reply(res, 200, await remote.validate()));
  };

  readonly pause: Handler = (req, res) => {
    const remote = this.remoteOf(req, res);
    if (remote) this.guard(res, async () => {
      const states = await remote.pause();
      this.host.changed();
      reply(res, 200, states);
    });
  };

  readonly resume: Handler = (req, res) => {
    const remote = this.remoteOf(req, res);
    if (remote) this.guard(res, async () => {
      const states = await remote.resume();
      this.host.changed();
      reply(res, 200, states);
    });
  };
}
