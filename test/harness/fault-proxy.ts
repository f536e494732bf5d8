/**
 * A fault-injecting HTTP proxy for end-to-end tests. It listens on a loopback port of
 * its own between senders and a receiver (the senders' remote-system URL points at it,
 * it forwards to the receiver) and does to each `POST …/rps/v1/messages` what the
 * test's plan says: answer 500 without forwarding, forward and then answer 500 (the
 * receiver has the batch, the sender believes it failed), wait before forwarding, or
 * reset the connection. Every other request passes through untouched. It counts what
 * it injected, so that a test can assert its faults really happened.
 *
 * Faults must be injected here, on the wire: Node-RED's httpNodeMiddleware only ever
 * ran for `http in` nodes' routes, and the rps/1 routes are served ahead of it.
 *
 * Bodies stream through in both directions; nothing is held beyond a socket's buffers.
 */
import { Agent, createServer, type IncomingHttpHeaders, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { closeServer, listenOnLoopback } from '../../tools/http';

export type Fault =
  /** Answer 500 without forwarding: the receiver never sees the batch. */
  | { kind: 'fail-before' }
  /**
   * Forward, and when the receiver has taken the batch (200) answer 500 instead: the
   * sender sends it again and the receiver must recognise it. Another answer of the
   * receiver passes through (it has nothing to lose).
   */
  | { kind: 'fail-after' }
  /** Wait this long before forwarding, the body left unread meanwhile (a slow receiver). */
  | { kind: 'delay'; ms: number }
  /** Close the connection without an answer and without forwarding. */
  | { kind: 'reset' };

export type FaultKind = Fault['kind'];

/** The fault for the `n`th message post (counted from 1), or undefined to forward it as it is. */
export type FaultPlan = (n: number) => Fault | undefined;

/** Headers that describe one connection, not the message: never forwarded. `host` is the target's. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

function isMessagePost(req: IncomingMessage): boolean {
  return req.method === 'POST' && /\/rps\/v1\/messages$/.test((req.url ?? '').split('?')[0]);
}

const INJECTED_ANSWER = JSON.stringify({ error: 'failure injected by the test fault proxy', code: 'injected' });

export class FaultProxy {
  /** Message posts seen. */
  posts = 0;
  /** Faults injected, by kind (a fail-after only when the receiver had answered 200). */
  readonly injected: Record<FaultKind, number> = { 'fail-before': 0, 'fail-after': 0, delay: 0, reset: 0 };
  /** Delayed posts whose sender gave up before they were forwarded (not forwarded then). */
  abandoned = 0;
  /** Requests the target did not answer (down, or died mid-request): the sender's connection is cut. */
  targetFailures = 0;
  url = '';
  /** When set, request bodies go on to the receiver at most this fast (a slow link for large uploads). */
  bodyBytesPerSec: number | undefined;
  private readonly agent = new Agent({ keepAlive: true });
  private server: Server | undefined;

  /** `target`: the receiver's base URL (http). The plan may be replaced at any time. */
  constructor(
    private readonly target: string,
    public plan: FaultPlan | undefined = undefined,
  ) {}

  static async start(target: string, plan?: FaultPlan): Promise<FaultProxy> {
    const proxy = new FaultProxy(target, plan);
    await proxy.listen();
    return proxy;
  }

  private async listen(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.url = await listenOnLoopback(this.server);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeServer(server);
    this.agent.destroy();
  }

  /** What was injected, for a test's log. */
  summary(): string {
    const i = this.injected;
    return (
      `${this.posts} message posts: ${i['fail-before']} answered 500 before the receiver, ${i['fail-after']} answered 500 after it took them, ` +
      `${i.delay} delayed (${this.abandoned} given up meanwhile), ${i.reset} reset; ${this.targetFailures} requests the receiver did not answer`
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const fault = isMessagePost(req) ? this.plan?.(++this.posts) : undefined;
    switch (fault?.kind) {
      case 'fail-before':
        this.injected['fail-before'] += 1;
        req.resume();
        this.fail(res);
        return;
      case 'reset':
        this.injected.reset += 1;
        res.destroy();
        return;
      case 'delay': {
        this.injected.delay += 1;
        // Before anything is forwarded, a close can only be the sender giving up.
        let gone = false;
        res.once('close', () => (gone = true));
        await new Promise((r) => setTimeout(r, fault.ms).unref());
        if (gone) {
          this.abandoned += 1;
          return;
        }
        break;
      }
    }
    this.forward(req, res, fault?.kind === 'fail-after');
  }

  private forward(req: IncomingMessage, res: ServerResponse, failAfter: boolean): void {
    const upstream = request(new URL(req.url ?? '/', this.target), { method: req.method, headers: endToEnd(req.headers), agent: this.agent });
    // Whatever breaks on one side breaks the other: the sender sees what it would without us.
    let cut = false;
    const cutBy = (receiver: boolean) => (err: Error | null | undefined): void => {
      if (!err || cut) return;
      cut = true;
      if (receiver && !res.headersSent) this.targetFailures += 1;
      upstream.destroy();
      res.destroy();
    };
    upstream.on('error', cutBy(true));
    res.once('close', () => cutBy(false)(res.writableFinished ? null : new Error('the sender closed the connection')));
    upstream.once('response', (answer) => {
      answer.on('error', cutBy(true));
      if (failAfter && answer.statusCode === 200) {
        answer.resume();
        answer.once('end', () => {
          this.injected['fail-after'] += 1;
          this.fail(res);
        });
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.headers));
      pipeline(answer, res, cutBy(true));
    });
    if (this.bodyBytesPerSec) pipeline(req, new Throttle(this.bodyBytesPerSec), upstream, cutBy(false));
    else pipeline(req, upstream, cutBy(false));
  }

  private fail(res: ServerResponse): void {
    if (res.destroyed) return;
    res.writeHead(500, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(INJECTED_ANSWER) });
    res.end(INJECTED_ANSWER);
  }
}

/** Passes bytes on no faster than `bytesPerSec`: each chunk waits until the bytes before it were due. */
class Throttle extends Transform {
  private sent = 0;
  private readonly started = Date.now();

  constructor(private readonly bytesPerSec: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sent += chunk.length;
    const due = this.started + (this.sent / this.bytesPerSec) * 1000;
    setTimeout(() => callback(null, chunk), Math.max(0, due - Date.now())).unref();
  }
}
