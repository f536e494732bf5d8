/**
 * rps-attachment-sync ("attachments"): the attachment protocol in a flow, in one of two
 * modes.
 *
 * - **send** (outbound flows, before *send to remote*): the record's files, given in
 *   `msg.attachments` as entries (a Buffer, a file path or a readable stream each) or
 *   as a folder whose files they are, are staged and registered for the remote system;
 *   `msg.rps.attachments` gets the metadata of those the message carries (all, or what
 *   changed since the last sync to that remote) and `msg.rps.removedAttachments` those
 *   the record no longer has (as an option). Files the limits keep back are reported.
 * - **receive** (inbound flows, after the local record is written, before *complete*):
 *   records which files the local record lacks, and passes the message on (output 1).
 *   The files are asked for and verified in the background; each one then leaves on
 *   output 2, with its content as a file path, a stream or a Buffer and the local
 *   record, for the flow to store and end with *complete*. Removals leave on output 2
 *   as they arrive, with the message.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { Readable } from 'node:stream';
import { type AttachmentStrategy, attachmentsToFetch, safeFileName } from '../core/attachments';
import { MAX_KEY_LENGTH } from '../core/attachment-protocol';
import { ATTACHMENT_NUMBERS, ruledNumber } from '../core/settings';
import type { AttachmentService, InboundFile, NewInboundFile, OutgoingFile } from '../engine/attachments';
import { common, errorOf, errorText, idText, ThrottledStatus } from './common';
import { type AttachmentContext, attachmentContext, inboundContext, outboundContext } from './context';
import type { Node, NodeAPI, NodeDef, NodeMessage } from './red';
import { processEventOf } from './rps-process-event';
import { remoteSystemOf } from './rps-remote-system';
import { runtimeOf } from './runtime';

interface AttachmentDef extends NodeDef {
  mode?: string;
  remoteSystem?: string;
  processEvent?: string;
  property?: string;
  strategy?: string;
  removals?: boolean;
  maxSizeMb?: number | string;
  extensions?: string;
  keyDays?: number | string;
  localId?: string;
  localIdType?: string;
  localTable?: string;
  existing?: string;
  content?: string;
}

/** What rps-complete calls to end a file's processing. */
export interface AttachmentNode extends Node {
  finishFile?: (id: number, outcome: { ok: true } | { ok: false; error: string }) => Promise<boolean>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Content types of common extensions; anything else is sent as bytes. */
const CONTENT_TYPES: Record<string, string> = {
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.zip': 'application/zip',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  '.xlsx': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

function contentTypeOf(fileName: string): string {
  return CONTENT_TYPES[extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}

/** Thrown for an entry of `msg.attachments` that cannot be read: its index and what is wrong, as a string key. */
class BadEntry extends Error {
  constructor(readonly key: string, readonly params: Record<string, string | number>) {
    super(key);
  }
}

/** One entry of `msg.attachments`: `{ content | buffer | path | stream, fileName?, id?, contentType? }`. */
function outgoingFile(entry: unknown, index: number): OutgoingFile {
  if (typeof entry !== 'object' || entry === null) throw new BadEntry('bad-entry', { index });
  const e = entry as Record<string, unknown>;
  const content = e.content ?? e.buffer ?? e.path ?? e.stream;
  if (!(Buffer.isBuffer(content) || content instanceof Readable || (typeof content === 'string' && content !== ''))) throw new BadEntry('no-content', { index });
  const named = typeof e.fileName === 'string' ? e.fileName : typeof e.name === 'string' ? e.name : typeof content === 'string' ? basename(content) : '';
  if (named === '') throw new BadEntry('no-name', { index });
  const id = idText(e.id) ?? named;
  return { id, fileName: named, contentType: typeof e.contentType === 'string' && e.contentType !== '' ? e.contentType : contentTypeOf(named), content: content as OutgoingFile['content'] };
}

/** The files of `msg.attachments`: a list of entries, or the path of a folder (its files, not its subfolders, by name). */
async function outgoingFiles(value: unknown): Promise<OutgoingFile[]> {
  if (typeof value === 'string') {
    const entries = await readdir(value, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort()
      .map((name) => ({ id: name, fileName: name, contentType: contentTypeOf(name), content: join(value, name) }));
  }
  if (!Array.isArray(value)) throw new BadEntry('not-a-list', {});
  return value.map(outgoingFile);
}

/** What the flow says the local record has: `[{ hash, fileName }]`. */
function heldByFlow(value: unknown): { hash: string; fileName: string }[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value
    .filter((v): v is { hash: string; fileName: string } => typeof v === 'object' && v !== null && typeof v.hash === 'string' && typeof v.fileName === 'string')
    .map((v) => {
      const safe = safeFileName(v.fileName);
      return { hash: v.hash.toLowerCase(), fileName: safe.ok ? safe.name : v.fileName };
    });
}

export default function (RED: NodeAPI): void {
  function RpsAttachmentSyncNode(this: AttachmentNode, def: AttachmentDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const rt = runtimeOf(RED);
    const status = new ThrottledStatus(node);
    const mode = def.mode === 'receive' ? 'receive' : 'send';
    let remote: ReturnType<typeof remoteSystemOf>;
    let eventName = '';
    try {
      remote = remoteSystemOf(RED, def.remoteSystem);
      if (mode === 'receive') eventName = processEventOf(RED, def.processEvent).eventName;
    } catch (err) {
      node.status({ fill: 'red', shape: 'ring', text: errorText(err) });
      node.error(errorText(err));
      node.on('input', (_msg, _send, done) => done(err instanceof Error ? err : new Error(String(err))));
      return;
    }
    const service = (): AttachmentService => {
      const s = rt.attachmentsOf(remote.store);
      if (!s) throw new Error(common(RED, 'errors.store-unavailable'));
      return s;
    };
    const t = (key: string, params?: Record<string, unknown>): string => RED._(`rps-attachment-sync.${key}`, params);
    const counts = { sent: 0, refused: 0, wanted: 0, handed: 0 };
    const showCounts = (): void =>
      status.set(() =>
        mode === 'send'
          ? { fill: counts.refused > 0 ? 'yellow' : 'green', shape: 'dot', text: t('status.sent', counts) }
          : { fill: 'green', shape: 'dot', text: t('status.received', counts) },
      );
    const fail = (err: unknown, done: (err?: Error) => void): void => {
      const text = err instanceof BadEntry ? t(`errors.${err.key}`, err.params) : errorText(err);
      status.now({ fill: 'red', shape: 'ring', text });
      done(new Error(text));
    };

    if (mode === 'send') {
      const property = (def.property ?? '').trim() || 'attachments';
      const strategy: AttachmentStrategy = def.strategy === 'all' ? 'all' : 'deltas';
      const maxBytes = Math.round(ruledNumber(ATTACHMENT_NUMBERS.maxSizeMb, def.maxSizeMb) * 1024 * 1024);
      const extensions = (def.extensions ?? '')
        .split(/[\s,;]+/)
        .map((x) => x.replace(/^\./, '').toLowerCase())
        .filter((x) => x !== '');
      const keyLifetimeMs = ruledNumber(ATTACHMENT_NUMBERS.keyDays, def.keyDays) * DAY_MS;
      node.on('input', (msg, send, done) => {
        void (async () => {
          try {
            const ctx = outboundContext(msg);
            if (!ctx) throw new Error(common(RED, 'errors.no-context'));
            const given = RED.util.getMessageProperty(msg, property);
            // No attachments given: the message goes on as it is (an empty list means the record has none).
            if (given === undefined) {
              send(msg);
              done();
              return;
            }
            const files = await outgoingFiles(given);
            const prepared = await service().prepare({
              remoteSystem: remote.id,
              table: ctx.table,
              recordId: ctx.id,
              files,
              strategy,
              removals: def.removals === true,
              limits: { maxBytes, extensions },
              keyLifetimeMs,
            });
            ctx.attachments = [...(ctx.attachments ?? []), ...prepared.attachments];
            ctx.attachmentsToRecord = [...(ctx.attachmentsToRecord ?? []), ...prepared.toRecord];
            if (prepared.removed.length > 0) ctx.removedAttachments = [...(ctx.removedAttachments ?? []), ...prepared.removed];
            // Files to send or remove make a message worth sending, whatever its journal.
            if (prepared.attachments.length > 0 || prepared.removed.length > 0) ctx.journalOnly = false;
            counts.sent += prepared.attachments.length;
            counts.refused += prepared.refused.length;
            for (const r of prepared.refused) node.warn(t(`warnings.${r.reason}`, { name: r.fileName.length > 80 ? `${r.fileName.slice(0, 80)}…` : r.fileName, max: def.maxSizeMb ?? '', extensions: extensions.join(', ') }));
            if (prepared.refused.length > 0) msg.refusedAttachments = prepared.refused;
            showCounts();
            send(msg);
            done();
          } catch (err) {
            fail(err, done);
          }
        })();
      });
      node.on('close', (_removed: boolean, done: () => void) => {
        status.stop();
        done();
      });
      return;
    }

    // ---- receive ----
    const idProperty = (def.localId ?? '').trim() || 'payload.id';
    const idType = def.localIdType || 'msg';
    const existing = (def.existing ?? '').trim();
    const contentAs = def.content === 'stream' || def.content === 'buffer' ? def.content : 'path';

    node.on('input', (msg, send, done) => {
      void (async () => {
        try {
          const attachment = attachmentContext(msg);
          if (attachment) throw new Error(t('errors.file-message'));
          const ctx = inboundContext(msg);
          if (!ctx) throw new Error(common(RED, 'errors.no-context'));
          const localId = idText(RED.util.evaluateNodeProperty(idProperty, idType, node, msg)) ?? ctx.localId ?? ctx.correlation?.localId;
          const localTable = (def.localTable ?? '').trim() || ctx.localTable || ctx.correlation?.localTable || ctx.source.table;
          const incoming = ctx.attachments ?? [];
          const removals: NodeMessage[] = [];
          if ((incoming.length > 0 || (ctx.removedAttachments ?? []).length > 0) && localId === undefined) throw new Error(t('errors.no-local-id', { property: idProperty }));
          const target = { table: localTable, id: localId ?? '' };
          if (incoming.length > 0) {
            const byFlow = existing === '' ? undefined : heldByFlow(RED.util.getMessageProperty(msg, existing));
            const have = byFlow ?? (await service().held(ctx.remoteSystem, target.table, target.id));
            // Names that cannot be stored, and keys no pull request can carry, are refused with their reason and never asked for.
            const wanted: (NewInboundFile & { refusal?: string })[] = attachmentsToFetch(incoming, have).map((a) => {
              const safe = safeFileName(a.fileName);
              const refusal = !safe.ok ? t(`errors.name-${safe.reason}`) : a.key.length > MAX_KEY_LENGTH ? t('errors.key-too-long', { max: MAX_KEY_LENGTH }) : undefined;
              return {
                remoteSystem: rt.keyOf(ctx.remoteSystem),
                processEvent: ctx.processEvent,
                messageId: ctx.messageId,
                source: ctx.source,
                target,
                key: a.key,
                hash: a.hash.toLowerCase(),
                fileName: safe.ok ? safe.name : a.fileName.slice(0, 255),
                contentType: a.contentType,
                size: a.size,
                ...(refusal === undefined ? {} : { refusal }),
              };
            });
            counts.wanted += (await service().want(wanted)).length;
          }
          // Only files that remote had of this record are removed (it cannot remove what it never had).
          const announced = (ctx.removedAttachments ?? []).flatMap((r) => {
            const safe = safeFileName(r.fileName);
            return safe.ok ? [{ hash: r.hash.toLowerCase(), fileName: safe.name }] : [];
          });
          const removedNames = localId === undefined ? [] : await service().removalsFrom(ctx.remoteSystem, target.table, target.id, announced);
          await service().removedThere(ctx.remoteSystem, target.table, target.id, removedNames);
          for (const removed of removedNames) {
            const safe = { name: removed.fileName };
            removals.push({
              payload: null,
              filename: safe.name,
              topic: ctx.processEvent,
              attachment: { fileName: safe.name, hash: removed.hash },
              rps: { direction: 'attachment', action: 'remove', attachmentNode: node.id, remoteSystem: ctx.remoteSystem, processEvent: ctx.processEvent, source: ctx.source, target, localTable: target.table, localId: target.id } satisfies AttachmentContext,
            });
          }
          showCounts();
          send([msg, null]);
          for (const r of removals) send([null, r]);
          done();
        } catch (err) {
          fail(err, done);
        }
      })();
    });

    /** One staged file as a message: its content as the node's setting says, and the local record. */
    const content = async (file: InboundFile, path: string): Promise<NodeMessage['payload']> => {
      if (contentAs === 'buffer') return readFile(path);
      if (contentAs === 'path') return path;
      // A stream nobody listens to for errors would take Node-RED down when it fails.
      const stream = createReadStream(path);
      stream.once('error', (err) => fileFailed(file.id, err));
      return stream;
    };
    const fileMessage = async (file: InboundFile, path: string): Promise<NodeMessage> => ({
      payload: await content(file, path),
      filename: file.fileName,
      topic: file.processEvent,
      attachment: { fileName: file.fileName, contentType: file.contentType, size: file.size, hash: file.hash },
      rps: {
        direction: 'attachment',
        action: 'store',
        attachmentNode: node.id,
        fileId: file.id,
        attempt: file.attempts + 1,
        remoteSystem: remote.id,
        processEvent: file.processEvent,
        source: file.source,
        target: file.target,
        localTable: file.target.table,
        localId: file.target.id,
      } satisfies AttachmentContext,
    });
    let removeEndpoint: (() => void) | undefined;
    const s = rt.attachmentsOf(remote.store);
    /** Unreadable staged content: the file is ended as failed, and handed again later. */
    const fileFailed = (id: number, err: unknown): void => {
      node.error(errorText(err));
      s?.finishFile(id, { ok: false, error: errorText(err) }).catch((e: unknown) => node.error(errorText(e)));
    };
    if (s) {
      removeEndpoint = s.addEndpoint(remote.id, eventName, {
        emit: (file, path) => {
          fileMessage(file, path)
            .then((m) => {
              counts.handed += 1;
              showCounts();
              node.send([null, m]);
            })
            .catch((err: unknown) => fileFailed(file.id, err));
        },
      });
      node.finishFile = (id, outcome) => s.finishFile(id, outcome);
    }
    node.on('close', (_removed: boolean, done: () => void) => {
      removeEndpoint?.();
      node.finishFile = undefined;
      status.stop();
      done();
    });
  }
  RED.nodes.registerType('rps-attachment-sync', RpsAttachmentSyncNode);
}

/** How rps-complete ends a file message: on the node that emitted it. */
export async function finishAttachment(RED: NodeAPI, msg: NodeMessage, ctx: AttachmentContext): Promise<'finished' | 'stale' | 'removal'> {
  if (ctx.action === 'remove' || ctx.fileId === undefined) return 'removal';
  const owner = RED.nodes.getNode(ctx.attachmentNode) as AttachmentNode | null;
  if (!owner?.finishFile) throw new Error(RED._('rps-attachment-sync.errors.no-node'));
  const error = errorOf(msg);
  return (await owner.finishFile(ctx.fileId, error === undefined ? { ok: true } : { ok: false, error })) ? 'finished' : 'stale';
}
