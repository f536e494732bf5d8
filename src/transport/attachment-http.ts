/**
 * The HTTP side of attachment transfer (`/rps/v1/attachments/…`) as plain Node request
 * handlers: the pull request (served by the origin), and the push of a file's bytes and
 * the completion (served by the receiver). Callers are authenticated, throttled and
 * admitted as for `/rps/v1/messages`; what is decided about a file is the API's.
 *
 * A push is decided before any byte of it is read, then streamed into its file: never
 * buffered whole (files are up to hundreds of megabytes), and what arrived of a body that
 * ended early is kept and reported, so that the next push resumes from it.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { WriteStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ATTACHMENT_PATHS,
  type CompleteRequest,
  type CompleteResult,
  type ContentAddress,
  InvalidAttachmentBody,
  parseContentQuery,
  type PullRequest,
  type PullResult,
  validateCompleteRequest,
  validatePullRequest,
} from '../core/attachment-protocol';
import { API_PREFIX } from '../core/protocol';
import {
  admitted,
  answer,
  answerFailure,
  discard,
  type Gate,
  HttpError,
  type HttpLimits,
  type InboundRoute,
  readJsonBody,
  refusingHandler,
} from './inbound-http';

/** A push as the receiver sees it: where the bytes go and how many the request declares. */
export interface ContentRef extends ContentAddress {
  length: number;
}

export type ContentTarget = { ok: true; path: string } | { ok: false; status: 404 | 409 | 413 | 503; code: string; error: string; received?: number };

export type ApiFailure = { status: 404 | 409 | 503; code: string; error: string };

export interface AttachmentApi<Peer> extends Gate<Peer, 'attachments'> {
  /** maxBodyBytes bounds the JSON bodies (pull, complete); a push is bounded by its file's size. */
  limits(peer: Peer): HttpLimits;
  pull(peer: Peer, request: PullRequest): Promise<{ status: 202; results: PullResult[] } | ApiFailure>;
  /** Where pushed bytes go; decided before any byte is read. */
  contentTarget(peer: Peer, ref: ContentRef): Promise<ContentTarget>;
  /** The bytes that reached the file (also after a body that ended early): the file now has `received` bytes. */
  contentWritten(peer: Peer, ref: ContentRef, received: number): Promise<void>;
  complete(peer: Peer, request: CompleteRequest): Promise<{ status: 200; results: CompleteResult[] } | ApiFailure>;
}

/** A body or query that does not validate is the caller's fault: 400 with the place and the reason. */
function validated<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof InvalidAttachmentBody) throw new HttpError(400, 'invalid', err.message);
    throw err;
  }
}

/**
 * A JSON route (pull, complete): the admitted caller's body, validated, handed to `call`,
 * whose answer goes out with `status` or as the API's failure.
 */
function jsonHandler<Peer, Request, Result, Status extends 200 | 202>(
  api: AttachmentApi<Peer>,
  validate: (body: unknown) => Request,
  call: (peer: Peer, request: Request) => Promise<{ status: Status; results: Result[] } | ApiFailure>,
): InboundRoute['handle'] {
  return refusingHandler(api, async (req, res) => {
    const peer = await admitted(api, req, 'attachments');
    const body = await readJsonBody(req, api.limits(peer).maxBodyBytes);
    const request = validated(() => validate(body));
    const outcome = await call(peer, request);
    if ('results' in outcome) answer(res, outcome.status, { results: outcome.results });
    else answerFailure(api, res, outcome);
  });
}

/** The body's declared length: required (411), as a plain decimal (400). */
function declaredLength(req: IncomingMessage): number {
  const header = req.headers['content-length'];
  if (header === undefined) throw new HttpError(411, 'length-required', 'Content-Length is required');
  if (!/^\d{1,16}$/.test(header) || !Number.isSafeInteger(Number(header))) throw new HttpError(400, 'invalid', 'Content-Length must be a decimal integer');
  return Number(header);
}

type Refused = Extract<ContentTarget, { ok: false }>;

/** The staged file for writing from a non-zero offset, with its size; none when it is missing. */
async function openExisting(path: string): Promise<{ handle?: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { size: 0 };
    throw err;
  }
  try {
    return { handle, size: (await handle.stat()).size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/**
 * The staged file opened for writing at `offset`: created (or emptied) at 0; otherwise it
 * must hold at least `offset` bytes and is cut to exactly that, so that after the push it
 * holds `offset` + the bytes written and nothing stale after them. A file with fewer bytes
 * than the store counts (lost to a crash between write and record, or removed) is reported
 * as it is, and the push refused with the offset to resume from.
 */
async function openAt<Peer>(api: AttachmentApi<Peer>, peer: Peer, ref: ContentRef, path: string): Promise<FileHandle | Refused> {
  if (ref.offset === 0) return open(path, 'w');
  const { handle, size } = await openExisting(path);
  if (handle && size >= ref.offset) {
    try {
      if (size > ref.offset) await handle.truncate(ref.offset);
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
  await handle?.close();
  await api.contentWritten(peer, ref, size);
  return { ok: false, status: 409, code: 'offset', error: `the receiver has ${size} bytes of this file`, received: size };
}

type BodyEnd = 'whole' | 'short' | 'failed';

/**
 * Streams the request's body into `out`, at most `length` bytes (more cuts the
 * connection), pausing the request while the file lags. Settles once `out` has flushed
 * and closed, so that `out.bytesWritten` is what reached the file: `whole` when all
 * `length` bytes came, `short` when the body ended or was cut early, `failed` when the
 * file could not be written.
 */
function streamBody(req: IncomingMessage, out: WriteStream, length: number): Promise<BodyEnd> {
  return new Promise((resolve) => {
    let received = 0;
    let end: BodyEnd | undefined;
    const settle = (how: BodyEnd): void => {
      if (end !== undefined) return;
      end = how;
      req.removeListener('data', onData);
      if (!out.destroyed) out.end();
    };
    const onData = (chunk: Buffer): void => {
      const room = length - received;
      received += chunk.length;
      if (chunk.length > room) {
        if (room > 0) out.write(chunk.subarray(0, room));
        req.destroy();
        settle('short');
        return;
      }
      if (!out.write(chunk)) {
        req.pause();
        out.once('drain', () => req.resume());
      }
    };
    out.on('close', () => resolve(end ?? 'failed'));
    out.on('error', () => {
      req.destroy();
      settle('failed');
    });
    req.on('data', onData);
    req.on('end', () => settle(received === length ? 'whole' : 'short'));
    // A client that aborts: 'close' before 'end' (and an 'error' that must not go unheard).
    req.on('error', () => settle('short'));
    req.on('close', () => settle('short'));
    // Gone while the push was being decided: what it had sent went with it.
    if (req.destroyed) settle('short');
  });
}

/**
 * Writes the push into its file and tells the API how many bytes the file has now; a
 * refusal when the file does not hold the bytes the push starts after.
 */
async function receiveContent<Peer>(api: AttachmentApi<Peer>, peer: Peer, req: IncomingMessage, ref: ContentRef, path: string): Promise<BodyEnd | Refused> {
  const opened = await openAt(api, peer, ref, path);
  if ('ok' in opened) return opened;
  const out = opened.createWriteStream({ start: ref.offset });
  const end = await streamBody(req, out, ref.length);
  await api.contentWritten(peer, ref, ref.offset + out.bytesWritten);
  return end;
}

/**
 * A push refused before its body is read: the body is dropped (bounded) so that the client
 * reads the answer, and the connection closed after it: past the bound it is cut, and a
 * client that reused it would find it gone.
 */
function dropUnread(req: IncomingMessage, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
  discard(req, 0);
}

function refuseUnread<Peer>(api: AttachmentApi<Peer>, req: IncomingMessage, res: ServerResponse, refusal: Refused): void {
  dropUnread(req, res);
  answerFailure(api, res, refusal, refusal.received === undefined ? {} : { received: refusal.received });
}

const SHORT_BODY = 'the body ended before Content-Length bytes';

function contentHandler<Peer>(api: AttachmentApi<Peer>): InboundRoute['handle'] {
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const peer = await admitted(api, req, 'attachments');
    const length = declaredLength(req);
    const address = validated(() => parseContentQuery((req.url ?? '').split('?')[1] ?? ''));
    const ref: ContentRef = { ...address, length };
    const target = await api.contentTarget(peer, ref);
    if (!target.ok) return refuseUnread(api, req, res, target);
    const end = await receiveContent(api, peer, req, ref, target.path);
    if (typeof end === 'object') return refuseUnread(api, req, res, end);
    if (end === 'failed') throw new HttpError(500, 'internal', 'the file could not be written');
    if (end === 'short') {
      api.onRefused?.(400, SHORT_BODY);
      // The client that cut the body is usually gone; one that is still there hears why.
      if (res.writable && !res.destroyed) answer(res, 400, { error: SHORT_BODY, code: 'short-body' });
      return;
    }
    res.writeHead(204, { 'Cache-Control': 'no-store' });
    res.end();
  };
  // Whatever is refused before the body is read leaves it unread: drop it (a no-op once it was read).
  return refusingHandler(api, serve, dropUnread);
}

/** The three routes, at their full paths (API_PREFIX included), for inboundRouter. */
export function attachmentRoutes<Peer>(api: AttachmentApi<Peer>): InboundRoute[] {
  return [
    { path: API_PREFIX + ATTACHMENT_PATHS.pull, method: 'POST', handle: jsonHandler(api, validatePullRequest, (peer, request) => api.pull(peer, request)) },
    { path: API_PREFIX + ATTACHMENT_PATHS.content, method: 'PUT', handle: contentHandler(api) },
    { path: API_PREFIX + ATTACHMENT_PATHS.complete, method: 'POST', handle: jsonHandler(api, validateCompleteRequest, (peer, request) => api.complete(peer, request)) },
  ];
}
