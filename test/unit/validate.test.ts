import assert from 'node:assert/strict';
import { type CheckDetail, validationReport, type ValidationInput } from '../../src/engine/validate';
import locale from '../../nodes/locales/en-US/rps-remote-system.json';

/** The details worded as the node words them: validate.<code> from the English locale. */
function word(detail: CheckDetail): string {
  if (!('code' in detail)) return String(detail.error);
  const texts: Record<string, string> = locale['rps-remote-system'].validate;
  return texts[detail.code].replace(/__(\w+)__/g, (_, name: string) => String(detail.params?.[name] ?? ''));
}

const base: ValidationInput = { url: 'https://b.example.com', https: true, usesToken: false, outcome: undefined, localEvents: ['PE'], inboundConfigured: true };

describe('validationReport', () => {
  it('stops at the first failing stage, and reports it even where it was not expected', () => {
    const tls = validationReport({ ...base, outcome: { ok: false, stage: 'tls', error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' } }, word);
    assert.deepEqual(tls.checks.map((c) => [c.name, c.ok]), [['url', true], ['connection', true], ['tls', false], ['inbound', true]]);
    assert.equal(tls.outboundOk, false);
    // Said to be http, but the handshake failed in TLS all the same: never reported as ok.
    const unexpected = validationReport({ ...base, https: false, outcome: { ok: false, stage: 'tls', error: 'EPROTO' } }, word);
    assert.ok(unexpected.checks.some((c) => c.name === 'tls' && !c.ok));
    assert.ok(!unexpected.checks.some((c) => c.name === 'protocol'));
  });

  it('reports the process events the remote lacks and a clock that is off', () => {
    const sentAt = Date.parse('2026-01-01T00:00:00Z');
    const report = validationReport({
      ...base,
      outcome: { ok: true, sentAt, receivedAt: sentAt + 200, handshake: { protocol: 'rps/1', instanceId: 'b', name: 'B', processEvents: ['Other'], time: '2026-01-01T00:01:00.100Z' } },
    }, word);
    const byName = new Map(report.checks.map((c) => [c.name, c]));
    assert.equal(report.outboundOk, true);
    assert.equal(byName.get('events')?.ok, false);
    assert.match(byName.get('events')?.detail ?? '', /not: PE/);
    assert.equal(byName.get('clock')?.ok, false);
    assert.match(byName.get('clock')?.detail ?? '', /60 s ahead/);
  });

  it('an inbound-only remote system validates without a call', () => {
    const report = validationReport({ ...base, url: undefined }, word);
    assert.deepEqual(report.checks.map((c) => c.ok), [true, true]);
    assert.equal(report.outboundOk, false);
  });
});
