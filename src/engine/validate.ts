/**
 * "Validate and activate": what the button in the remote system's form runs. It
 * calls the remote's handshake the way the sender will (same URL, TLS, token and
 * credentials) and reports line by line what worked, so a person can fix the first
 * thing that did not.
 */
import type { Handshake } from '../core/protocol';
import type { HandshakeOutcome, HandshakeStage } from '../transport/client';

export type CheckName = 'url' | HandshakeStage | 'events' | 'clock' | 'activation' | 'inbound';

export interface Check {
  name: CheckName;
  ok: boolean;
  detail: string;
}

/** More skew than this and tokens from one side look expired or not yet valid to the other. */
export const MAX_CLOCK_SKEW_MS = 10_000;

export interface ValidationInput {
  /** The remote's URL, when it has one (an inbound-only remote system has none). */
  url: string | undefined;
  https: boolean;
  usesToken: boolean;
  /** The handshake outcome; undefined when there is no URL to call. */
  outcome: HandshakeOutcome | undefined;
  /** Process events defined on this side, to tell which the remote does not know. */
  localEvents: readonly string[];
  /** Whether the remote may call us (an API user or identity provider is set). */
  inboundConfigured: boolean;
}

export interface Validation {
  checks: Check[];
  /** Outbound can be activated: the remote answered our handshake as rps/1. */
  outboundOk: boolean;
}

function skewOf(handshake: Handshake, sentAt: number, receivedAt: number): number | undefined {
  const remote = handshake.time ? Date.parse(handshake.time) : NaN;
  if (!Number.isFinite(remote)) return undefined;
  // The remote read its clock somewhere between our send and receive: take the middle.
  return remote - (sentAt + receivedAt) / 2;
}

/** The report of one validation, in the order a person would fix things. */
export function validationReport(v: ValidationInput): Validation {
  const checks: Check[] = [];
  let outboundOk = false;
  if (v.url === undefined || v.outcome === undefined) {
    checks.push({ name: 'url', ok: true, detail: 'no URL: inbound only, nothing is sent to this remote' });
  } else {
    checks.push({ name: 'url', ok: true, detail: v.url });
    const o = v.outcome;
    const failedAt = o.ok ? undefined : o.stage;
    const order: HandshakeStage[] = ['connection', ...(v.https ? (['tls'] as const) : []), ...(v.usesToken ? (['token'] as const) : []), 'auth', 'protocol'];
    // A failure at a stage this remote was not expected to have is still reported, where it happened.
    if (failedAt !== undefined && !order.includes(failedAt)) order.splice(1, 0, failedAt);
    for (const stage of order) {
      if (failedAt === stage) {
        checks.push({ name: stage, ok: false, detail: (o as { error: string }).error });
        break;
      }
      checks.push({ name: stage, ok: true, detail: stageDetail(stage) });
    }
    if (o.ok) {
      outboundOk = true;
      const known = new Set(o.handshake.processEvents);
      const missing = v.localEvents.filter((e) => !known.has(e));
      const list = o.handshake.processEvents.length ? o.handshake.processEvents.join(', ') : 'none';
      checks.push({
        name: 'events',
        ok: missing.length === 0,
        detail: missing.length ? `the remote knows: ${list}; not: ${missing.join(', ')}` : `the remote knows: ${list}`,
      });
      const skew = skewOf(o.handshake, o.sentAt, o.receivedAt);
      if (skew === undefined) checks.push({ name: 'clock', ok: true, detail: 'the remote does not tell its time' });
      else {
        const seconds = Math.round(skew / 100) / 10;
        checks.push({ name: 'clock', ok: Math.abs(skew) <= MAX_CLOCK_SKEW_MS, detail: `the remote's clock is ${seconds} s ${skew >= 0 ? 'ahead' : 'behind'}` });
      }
      checks.push(
        o.handshake.inboundState === 'disabled'
          ? { name: 'activation', ok: false, detail: 'the remote has not activated us yet: validate there too' }
          : { name: 'activation', ok: true, detail: 'the remote takes our messages' },
      );
    }
  }
  checks.push({
    name: 'inbound',
    ok: true,
    detail: v.inboundConfigured ? 'the remote may call us' : 'no API user or identity provider: the remote cannot call us',
  });
  return { checks, outboundOk };
}

function stageDetail(stage: HandshakeStage): string {
  switch (stage) {
    case 'connection':
      return 'the remote answers';
    case 'tls':
      return 'certificate accepted';
    case 'token':
      return 'access token obtained';
    case 'auth':
      return 'our credentials are accepted';
    case 'protocol':
      return 'speaks rps/1';
  }
}
