import assert from 'node:assert/strict';
import {
  completeResultsOf,
  contentQuery,
  InvalidAttachmentBody,
  MAX_PULL_FILES,
  parseContentQuery,
  pullResultsOf,
  validateCompleteRequest,
  validatePullRequest,
} from '../../src/core/attachment-protocol';

const pull = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  protocol: 'rps/1',
  transfer: 'tr_1-a',
  files: [
    { id: 1, key: 'rps-ak:1:abc', offset: 0 },
    { id: 2, key: 'rps-ak:1:def', offset: 512 },
  ],
  ...extra,
});

const complete = (files: unknown[]): Record<string, unknown> => ({ protocol: 'rps/1', transfer: 't1', files });

function refusedAt(check: () => unknown, place: RegExp): void {
  assert.throws(check, (err: unknown) => {
    assert.ok(err instanceof InvalidAttachmentBody);
    assert.match(err.message, place);
    return true;
  });
}

describe('core/attachment-protocol', () => {
  describe('pull request', () => {
    it('accepts a well-formed request and returns a clean copy', () => {
      const body = pull();
      (body.files as Record<string, unknown>[])[0].extra = 'dropped';
      assert.deepEqual(validatePullRequest({ ...body, other: 1 }), {
        transfer: 'tr_1-a',
        files: [
          { id: 1, key: 'rps-ak:1:abc', offset: 0 },
          { id: 2, key: 'rps-ak:1:def', offset: 512 },
        ],
      });
    });

    const bad: [string, unknown, RegExp][] = [
      ['not an object', [1], /^body: must be an object/],
      ['another protocol', pull({ protocol: 'rps/2' }), /^protocol: must be "rps\/1"/],
      ['no transfer', pull({ transfer: undefined }), /^transfer: must be a string/],
      ['an empty transfer', pull({ transfer: '' }), /^transfer: must not be empty/],
      ['a transfer with a slash', pull({ transfer: 'a/b' }), /^transfer: may hold only/],
      ['a transfer of 201 characters', pull({ transfer: 'x'.repeat(201) }), /^transfer: longer than 200/],
      ['files not a list', pull({ files: {} }), /^files: must be an array/],
      ['no files', pull({ files: [] }), /^files: must not be empty/],
      ['too many files', pull({ files: Array.from({ length: MAX_PULL_FILES + 1 }, (_, i) => ({ id: i + 1, key: 'k', offset: 0 })) }), /^files: more than 100/],
      ['a file that is not an object', pull({ files: ['k'] }), /^files\[0\]: must be an object/],
      ['id 0', pull({ files: [{ id: 0, key: 'k', offset: 0 }] }), /^files\[0\]\.id: must be an integer of 1 or more/],
      ['a fractional id', pull({ files: [{ id: 1.5, key: 'k', offset: 0 }] }), /^files\[0\]\.id/],
      ['an id as text', pull({ files: [{ id: '1', key: 'k', offset: 0 }] }), /^files\[0\]\.id/],
      ['a negative offset', pull({ files: [{ id: 1, key: 'k', offset: -1 }] }), /^files\[0\]\.offset: must be an integer of 0 or more/],
      ['an offset past 2^53', pull({ files: [{ id: 1, key: 'k', offset: 2 ** 53 }] }), /^files\[0\]\.offset/],
      ['no key', pull({ files: [{ id: 1, offset: 0 }] }), /^files\[0\]\.key: must be a string/],
      ['a key of 4097 characters', pull({ files: [{ id: 1, key: 'k'.repeat(4097), offset: 0 }] }), /^files\[0\]\.key: longer than 4096/],
      ['a file twice', pull({ files: [{ id: 3, key: 'a', offset: 0 }, { id: 3, key: 'b', offset: 0 }] }), /^files\[1\]\.id: appears twice/],
    ];
    for (const [name, body, place] of bad) {
      it(`refuses ${name}, naming the place`, () => refusedAt(() => validatePullRequest(body), place));
    }

    it('takes 100 files and a key of 4096 characters', () => {
      const files = Array.from({ length: MAX_PULL_FILES }, (_, i) => ({ id: i + 1, key: 'k'.repeat(4096), offset: i }));
      assert.equal(validatePullRequest(pull({ files })).files.length, 100);
    });
  });

  describe('completion', () => {
    it('accepts sent and refused files, clean copies', () => {
      const body = complete([
        { id: 1, status: 'sent', error: 'ignored' },
        { id: 2, status: 'refused', code: 'gone', error: 'the record has no such file any more' },
      ]);
      assert.deepEqual(validateCompleteRequest(body), {
        transfer: 't1',
        files: [
          { id: 1, status: 'sent' },
          { id: 2, status: 'refused', code: 'gone', error: 'the record has no such file any more' },
        ],
      });
    });

    const bad: [string, unknown, RegExp][] = [
      ['an unknown status', complete([{ id: 1, status: 'done' }]), /^files\[0\]\.status: must be "sent" or "refused"/],
      ['a refusal without code', complete([{ id: 1, status: 'refused', error: 'x' }]), /^files\[0\]\.code/],
      ['a refusal without error', complete([{ id: 1, status: 'refused', code: 'gone' }]), /^files\[0\]\.error/],
      ['an error of 1001 characters', complete([{ id: 1, status: 'refused', code: 'c', error: 'e'.repeat(1001) }]), /^files\[0\]\.error: longer than 1000/],
      ['a file twice', complete([{ id: 1, status: 'sent' }, { id: 1, status: 'sent' }]), /^files\[1\]\.id: appears twice/],
      ['no transfer', { protocol: 'rps/1', files: [{ id: 1, status: 'sent' }] }, /^transfer/],
      ['no protocol', { transfer: 't', files: [{ id: 1, status: 'sent' }] }, /^protocol/],
    ];
    for (const [name, body, place] of bad) {
      it(`refuses ${name}, naming the place`, () => refusedAt(() => validateCompleteRequest(body), place));
    }
  });

  describe('content query', () => {
    it('reads back what contentQuery writes, with or without "?"', () => {
      const address = { transfer: 'tr-9_x', file: 42, offset: 1_048_576 };
      assert.deepEqual(parseContentQuery(contentQuery(address)), address);
      assert.deepEqual(parseContentQuery(`?${contentQuery(address)}`), address);
    });

    const bad: [string, string, RegExp][] = [
      ['no transfer', 'file=1&offset=0', /^transfer: is missing/],
      ['a bad transfer', 'transfer=a%2Fb&file=1&offset=0', /^transfer: may hold only/],
      ['no file', 'transfer=t&offset=0', /^file: is missing/],
      ['file 0', 'transfer=t&file=0&offset=0', /^file: must be an integer of 1 or more/],
      ['a signed offset', 'transfer=t&file=1&offset=-1', /^offset: must be a decimal integer/],
      ['an offset with an exponent', 'transfer=t&file=1&offset=1e3', /^offset: must be a decimal integer/],
      ['an empty offset', 'transfer=t&file=1&offset=', /^offset: must be a decimal integer/],
      ['an offset given twice', 'transfer=t&file=1&offset=0&offset=5', /^offset: given more than once/],
    ];
    for (const [name, query, place] of bad) {
      it(`refuses ${name}`, () => refusedAt(() => parseContentQuery(query), place));
    }
  });

  describe('answers as the caller checks them', () => {
    it('takes pull results that answer each file once, in any order', () => {
      const answer = { results: [{ id: 2, status: 'refused', code: 'expired', error: 'the key expired', extra: 1 }, { id: 1, status: 'accepted' }] };
      assert.deepEqual(pullResultsOf(answer, [1, 2]), [
        { id: 2, status: 'refused', code: 'expired', error: 'the key expired' },
        { id: 1, status: 'accepted' },
      ]);
    });

    it('refuses pull results that miss a file, add one, repeat one or carry an unknown code', () => {
      assert.equal(pullResultsOf({ results: [{ id: 1, status: 'accepted' }] }, [1, 2]), undefined);
      assert.equal(pullResultsOf({ results: [{ id: 1, status: 'accepted' }, { id: 3, status: 'accepted' }] }, [1, 2]), undefined);
      assert.equal(pullResultsOf({ results: [{ id: 1, status: 'accepted' }, { id: 1, status: 'accepted' }] }, [1, 2]), undefined);
      assert.equal(pullResultsOf({ results: [{ id: 1, status: 'refused', code: 'other', error: 'x' }] }, [1]), undefined);
      assert.equal(pullResultsOf(null, [1]), undefined);
    });

    it('takes completion results with a known status only', () => {
      assert.deepEqual(completeResultsOf({ results: [{ id: 5, status: 'verified' }, { id: 6, status: 'mismatch' }] }, [6, 5]), [
        { id: 5, status: 'verified' },
        { id: 6, status: 'mismatch' },
      ]);
      assert.equal(completeResultsOf({ results: [{ id: 5, status: 'fine' }] }, [5]), undefined);
      assert.equal(completeResultsOf('results', [5]), undefined);
    });
  });
});
