import assert from 'node:assert/strict';
import {
  attachmentKey,
  attachmentsToFetch,
  limitRefusal,
  MAX_NAME_BYTES,
  newAttachmentSecret,
  openAttachmentKey,
  planAttachments,
  safeFileName,
} from '../../src/core/attachments';
import type { AttachmentMeta } from '../../src/core/protocol';

describe('core/attachments', () => {
  const secret = newAttachmentSecret();
  const claims = { table: 'incident', recordId: 'INC1', attachmentId: 'att-7', hash: 'ab'.repeat(32), expiresAt: 2_000 };

  describe('synthetic keys', () => {
    it('open, for the remote system they were made for and before they expire, to the claims they were made with', () => {
      const key = attachmentKey(secret, 'remote-B', claims);
      assert.match(key, /^rps-ak:1:[A-Za-z0-9_-]+$/);
      assert.ok(!key.includes('INC1'), 'the claims cannot be read from the key');
      assert.deepEqual(openAttachmentKey(secret, 'remote-B', key, 2_000), { ok: true, claims });
      assert.notEqual(attachmentKey(secret, 'remote-B', claims), key, 'a random IV: two keys for the same claims differ');
    });

    it('refuse another remote system, another secret, a changed byte, expiry and what is not a key', () => {
      const key = attachmentKey(secret, 'remote-B', claims);
      assert.deepEqual(openAttachmentKey(secret, 'remote-C', key, 0), { ok: false, reason: 'forged' }, 'foreign: made for B');
      assert.deepEqual(openAttachmentKey(newAttachmentSecret(), 'remote-B', key, 0), { ok: false, reason: 'forged' });
      const body = key.slice('rps-ak:1:'.length);
      // Every 7th character but the last (whose low bits may be padding that decodes to the same bytes).
      for (let i = 0; i < body.length - 1; i += 7) {
        const c = body[i] === 'A' ? 'B' : 'A';
        const tampered = `rps-ak:1:${body.slice(0, i)}${c}${body.slice(i + 1)}`;
        const opened = openAttachmentKey(secret, 'remote-B', tampered, 0);
        assert.equal(opened.ok, false, `byte ${i} changed`);
      }
      assert.deepEqual(openAttachmentKey(secret, 'remote-B', key, 2_001), { ok: false, reason: 'expired' });
      for (const bad of ['', 'rps-ak:1:', 'rps-ak:1:!!!', 'rps-ak:2:AAAA', 'x'.repeat(5000), `rps-ak:1:${'A'.repeat(10)}`]) {
        assert.deepEqual(openAttachmentKey(secret, 'remote-B', bad, 0), { ok: false, reason: 'malformed' }, JSON.stringify(bad.slice(0, 20)));
      }
      assert.throws(() => attachmentKey(Buffer.alloc(16), 'remote-B', claims), /32 bytes/);
    });
  });

  describe('file names from a remote', () => {
    it('are made safe to store: no path, no reserved device name, no leading or trailing dots', () => {
      const safe = (n: string): string => {
        const r = safeFileName(n);
        assert.ok(r.ok, `${JSON.stringify(n)}: ${JSON.stringify(r)}`);
        return r.name;
      };
      assert.equal(safe('report.pdf'), 'report.pdf');
      assert.equal(safe('../../etc/passwd'), '_.._etc_passwd');
      assert.equal(safe('..\\..\\windows\\win.ini'), '_.._windows_win.ini');
      assert.equal(safe('C:\\temp\\a.txt'), 'C__temp_a.txt');
      assert.equal(safe('CON'), '_CON');
      assert.equal(safe('nul.txt'), '_nul.txt');
      assert.equal(safe('com1.log'), '_com1.log');
      assert.equal(safe('console.log'), 'console.log', 'only the reserved names themselves');
      assert.equal(safe('  .hidden. '), 'hidden');
      assert.equal(safe('a<b>c:d"e|f?g*h.txt'), 'a_b_c_d_e_f_g_h.txt');
      assert.equal(safe('résumé.docx'), 'résumé.docx');
    });

    it('are refused with a reason when they cannot be stored as they are meant', () => {
      assert.deepEqual(safeFileName('a\u0000b.txt'), { ok: false, reason: 'control-character' });
      assert.deepEqual(safeFileName('line\nbreak.txt'), { ok: false, reason: 'control-character' });
      assert.deepEqual(safeFileName('x'.repeat(10_000)), { ok: false, reason: 'too-long' });
      assert.deepEqual(safeFileName('é'.repeat(MAX_NAME_BYTES / 2 + 1)), { ok: false, reason: 'too-long' }, 'counted in UTF-8 bytes');
      assert.ok(safeFileName('x'.repeat(MAX_NAME_BYTES)).ok);
      for (const empty of ['', '...', '  ', '. .']) assert.deepEqual(safeFileName(empty), { ok: false, reason: 'empty' }, JSON.stringify(empty));
    });
  });

  it("keeps back what a capture's limits do not allow", () => {
    const limits = { maxBytes: 1000, extensions: ['pdf', 'png'] };
    assert.equal(limitRefusal({ fileName: 'a.PDF', size: 1000 }, limits), undefined);
    assert.equal(limitRefusal({ fileName: 'a.pdf', size: 1001 }, limits), 'too-large');
    assert.equal(limitRefusal({ fileName: `${'x'.repeat(10_000)}.pdf`, size: 1 }, limits), 'name', 'a name no message can carry');
    assert.equal(limitRefusal({ fileName: '', size: 1 }, { maxBytes: 0, extensions: [] }), 'name');
    assert.equal(limitRefusal({ fileName: 'a.exe', size: 1 }, limits), 'extension');
    assert.equal(limitRefusal({ fileName: 'pdf', size: 1 }, limits), 'extension', 'no extension');
    assert.equal(limitRefusal({ fileName: '.png', size: 1 }, limits), 'extension', 'a dot file has no extension');
    assert.equal(limitRefusal({ fileName: 'a.exe', size: 10 ** 12 }, { maxBytes: 0, extensions: [] }), undefined);
  });

  it('plans which attachments a message carries: all, or what changed since the last sync to that remote, with removals as an option', () => {
    const a = { id: 'a', hash: 'h1', fileName: 'a.txt' };
    const b = { id: 'b', hash: 'h2', fileName: 'b.txt' };
    const b2 = { ...b, hash: 'h2-changed' };
    const none = new Map<string, { hash: string; fileName: string }>();
    assert.deepEqual(planAttachments('deltas', [a, b], none, true), { send: [a, b], removed: [] }, "a record's first sync sends all");
    const sent = new Map([
      ['a', { hash: 'h1', fileName: 'a.txt' }],
      ['b', { hash: 'h2', fileName: 'b.txt' }],
      ['gone', { hash: 'h9', fileName: 'gone.txt' }],
    ]);
    assert.deepEqual(planAttachments('deltas', [a, b], sent, false), { send: [], removed: [] }, 'nothing changed: nothing sent');
    assert.deepEqual(planAttachments('deltas', [a, b2], sent, true), { send: [b2], removed: ['gone'] });
    assert.deepEqual(planAttachments('all', [a, b2], sent, false), { send: [a, b2], removed: [] });
    const renamed = { ...a, fileName: 'a-renamed.txt' };
    assert.deepEqual(planAttachments('deltas', [renamed, b], sent, false), { send: [renamed], removed: [] }, 'a renamed file is sent again');
  });

  it('asks for the attachments whose hash and stored name the target record does not have, each once', () => {
    const meta = (hash: string, fileName: string): AttachmentMeta => ({ key: `k-${hash}`, hash, fileName, contentType: 'text/plain', size: 1 });
    const incoming = [meta('h1', 'a.txt'), meta('h2', 'b.txt'), meta('h1', 'copy of a.txt'), meta('h2', 'b.txt'), meta('h3', '../c.txt')];
    const have = [
      { hash: 'h1', fileName: 'a.txt' },
      { hash: 'h3', fileName: '_c.txt' },
    ];
    assert.deepEqual(
      attachmentsToFetch(incoming, have).map((m) => m.fileName),
      ['b.txt', 'copy of a.txt'],
    );
  });
});
