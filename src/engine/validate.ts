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

/**
 * What a check found, as data: a code with parameters (the node words it as
 * `validate.<code>`), or an error met on the way (the handshake's or a setting's).
 */
export type CheckDetail = { code: string; params?: Record<string, string | number> } | { error: Error | string };

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
export function validationReport(v: ValidationInput, describe: (detail: CheckDetail) => string): Validation {
  const checks: Check[] = [];
  let outboundOk = false;
  if (v.url === undefined || v.outcome === undefined) {
    checks.push({ name: 'url', ok: true, detail: describe({ code: 'no-url' }) });
  } else {
    checks.push({ name: 'url', ok: true, detail: describe({ code: 'url', params: { url: v.url } }) });
    const o = v.outcome;
    const failedAt = o.ok ? undefined : o.stage;
    const order: HandshakeStage[] = ['connection', ...(v.https ? (['tls'] as const) : []), ...(v.usesToken ? (['token'] as const) : []), 'auth', 'protocol'];
    // A failure at a stage this remote was not expected to have is still reported, where it happened.
    if (failedAt !== undefined && !order.includes(failedAt)) order.splice(1, 0, failedAt);
    for (const stage of order) {
      if (failedAt === stage) {
        checks.push({ name: stage, ok: false, detail: describe({ error: (o as { error: string }).error }) });
        break;
      }
      checks.push({ name: stage, ok: true, detail: describe({ code: stage }) });
    }
    if (o.ok) {
      outboundOk = true;
      const known = new Set(o.handshake.processEvents);
      const missing = v.localEvents.filter((e) => !known.has(e));
      const list = o.handshake.processEvents.join(', ');
      checks.push({
        name: 'events',
        ok: missing.length === 0,
        detail: describe({ code: `${list ? 'events' : 'events-none'}${missing.length ? '-missing' : ''}`, params: { list, missing: missing.join(', ') } }),
      });
      const skew = skewOf(o.handshake, o.sentAt, o.receivedAt);
      if (skew === undefined) checks.push({ name: 'clock', ok: true, detail: describe({ code: 'clock-unknown' }) });
      else {
        const seconds = Math.round(skew / 100) / 10;
        checks.push({ name: 'clock', ok: Math.abs(skew) <= MAX_CLOCK_SKEW_MS, detail: describe({ code: skew >= 0 ? 'clock-ahead' : 'clock-behind', params: { seconds } }) });
      }
      checks.push(
        o.handshake.inboundState === 'disabled'
          ? { name: 'activation', ok: false, detail: describe({ code: 'remote-not-activated' }) }
          : { name: 'activation', ok: true, detail: describe({ code: 'remote-activated' }) },
      );
    }
  }
  checks.push({
    name: 'inbound',
    ok: true,
    detail: describe({ code: v.inboundConfigured ? 'inbound' : 'no-inbound' }),
  });
  return { checks, outboundOk };
}
