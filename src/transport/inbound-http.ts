/**
 * The HTTP side of the inbound endpoints (`POST /rps/v1/messages`,
 * `GET /rps/v1/handshake`) as plain Node request handlers: they read and check the
 * request, hand a validated envelope to the receiver, and answer. Every refusal is a
 * 4xx with a reason in `{error}`; nothing is written for a refused request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Envelope, type Handshake, type MessageResult, type ProtocolLimits, validateEnvelope } from '../core/protocol';

export interface HttpLimits {
  maxBodyBytes: number;
  protocol: ProtocolLimits;
}

/** What the receiver answers for a valid envelope. */
export type ReceiveOutcome =
  | { status: 200; results: MessageResult[] }
  | { status: 404 | 409 | 503; error: string; code: string };

export interface InboundApi<Peer> {
  /** The remote system these credentials belong to; undefined when they match none. */
  authenticate(authorization: string | undefined): Peer | undefined;
  receive(peer: Peer, envelope: Envelope): Promise<ReceiveOutcome>;
  handshake(peer: Peer): Handshake;
  limits(): HttpLimits;
  /** Called for every request refused or failed, for logs and metrics (never with secrets). */
  onRefused?(status: number, reason: string): void;
}

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** `_body` is how body-parser (used by Node-RED's admin API and often in httpNodeMiddleware) marks a parsed body. */
type RequestWithBody = IncomingMessage & { body?: unknown; _body?: boolean };

/**
 * Reads the body up to `limit` bytes. When Node-RED's admin API shares the root path
 * with the HTTP nodes, its JSON parser has already read an `application/json` body
 * (with its own limit); that parsed body is used as it is. Our senders use
 * `application/rps+json`, which only we read.
 */
function readBody(req: RequestWithBody, limit: number): Promise<unknown> {
  if (req._body === true) {
    const b = req.body;
    if (Buffer.isBuffer(b) || typeof b === 'string') return Promise.resolve(parseJson(Buffer.from(b)));
    return Promise.resolve(b);
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new HttpError(413, 'too-large', `body larger than ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(new HttpError(413, 'too-large', `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      try {
        resolve(parseJson(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      reject(new HttpError(400, 'aborted', 'request aborted'));
    });
  });
}

function parseJson(buf: Buffer): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new HttpError(400, 'bad-encoding', 'body is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'bad-json', 'body is not valid JSON');
  }
}

function isJson(req: IncomingMessage): boolean {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  return type === 'application/json' || /^application\/[a-z0-9.-]+\+json$/.test(type);
}

function refuse<Peer>(api: InboundApi<Peer>, res: ServerResponse, err: HttpError): void {
  api.onRefused?.(err.status, err.message);
  const headers: Record<string, string> = {};
  if (err.status === 401) headers['WWW-Authenticate'] = 'Basic realm="rps", charset="UTF-8"';
  // A body we stopped reading would otherwise keep the connection busy.
  if (err.status === 413) headers.Connection = 'close';
  answer(res, err.status, { error: err.message, code: err.code }, headers);
}

function authenticated<Peer>(api: InboundApi<Peer>, req: IncomingMessage): Peer {
  const peer = api.authenticate(req.headers.authorization);
  if (peer === undefined) {
    const message = req.headers.authorization ? 'credentials not accepted' : 'authentication required';
    throw new HttpError(401, 'unauthorized', message);
  }
  return peer;
}

export function messagesHandler<Peer>(api: InboundApi<Peer>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      try {
        const peer = authenticated(api, req);
        if (!isJson(req)) throw new HttpError(415, 'content-type', 'Content-Type must be application/json');
        const limits = api.limits();
        const body = await readBody(req, limits.maxBodyBytes);
        const checked = validateEnvelope(body, limits.protocol);
        if (!checked.ok) throw new HttpError(400, 'invalid', checked.error);
        const outcome = await api.receive(peer, checked.value);
        if (outcome.status === 200) {
          answer(res, 200, { results: outcome.results });
        } else {
          const headers: Record<string, string> = outcome.status === 503 ? { 'Retry-After': '5' } : {};
          api.onRefused?.(outcome.status, outcome.error);
          answer(res, outcome.status, { error: outcome.error, code: outcome.code }, headers);
        }
      } catch (err) {
        if (err instanceof HttpError) refuse(api, res, err);
        else refuse(api, res, new HttpError(500, 'internal', 'internal error'));
      }
    })();
  };
}

export function handshakeHandler<Peer>(api: InboundApi<Peer>): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    try {
      const peer = authenticated(api, req);
      answer(res, 200, api.handshake(peer));
    } catch (err) {
      if (err instanceof HttpError) refuse(api, res, err);
      else refuse(api, res, new HttpError(500, 'internal', 'internal error'));
    }
  };
}
