/**
 * The sender's own reasons for an outbound row: stored as codes, worded where shown,
 * and rows that earlier versions wrote in English still read as their code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeReason, OUTBOUND_REASONS, reasonCode } from '../../src/core/reasons';

const CATALOG = join(resolve(__dirname, '..', '..', '..'), 'nodes', 'locales', 'en-US', 'rps-remote-system.json');

describe('outbound reasons (core/reasons)', () => {
  const word = (code: string): string => `<${code}>`;

  it('a code reads as itself and is worded', () => {
    for (const code of OUTBOUND_REASONS) {
      assert.equal(reasonCode(code), code);
      assert.equal(describeReason(code, word), `<${code}>`);
    }
  });

  it('the English texts of earlier versions read as their code', () => {
    const old: [string, string][] = [
      ['sender stopped', 'stopped'],
      ['rejected by the remote', 'rejected'],
      ['the remote did not answer for this message', 'unanswered'],
      ['held behind an earlier message of the record', 'held'],
      ['sent again after a refused batch', 'resent'],
    ];
    for (const [text, code] of old) assert.equal(describeReason(text, word), `<${code}>`, text);
  });

  it('any other text (a remote refusal, a transport error) is shown as it is; without words a code shows as it is', () => {
    for (const text of ['HTTP 400: bad', 'ECONNREFUSED', 'toString', 'constructor', '']) {
      assert.equal(reasonCode(text), undefined, text);
      assert.equal(describeReason(text, word), text);
    }
    assert.equal(describeReason('held', undefined), 'held');
  });

  it('every code has its words in the catalog (rps-remote-system.reasons.<code>)', () => {
    const catalog = JSON.parse(readFileSync(CATALOG, 'utf8')) as { 'rps-remote-system': { reasons?: Record<string, unknown> } };
    const reasons = catalog['rps-remote-system'].reasons ?? {};
    assert.deepEqual(Object.keys(reasons).sort(), [...OUTBOUND_REASONS].sort());
    for (const code of OUTBOUND_REASONS) assert.equal(typeof reasons[code], 'string', code);
  });
});
