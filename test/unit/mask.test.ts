import assert from 'node:assert/strict';
import { MASK, maskedPayload, maskSecrets } from '../../src/core/mask';

describe('core/mask', () => {
  it('masks the values of secret-named fields at any depth, and nothing else', () => {
    const message = {
      id: 'm1',
      fields: { short_description: 'Printer jam', password: 'hunter2', api_key: 'k-123', nested: { Authorization: 'Bearer x', sessionToken: 'abc' }, empty_secret: '' },
      journal: [{ field: 'comments', value: 'see token in vault', author: 'ann' }],
    };
    const masked = maskSecrets(message) as typeof message;
    assert.equal(masked.fields.short_description, 'Printer jam');
    assert.equal(masked.fields.password, MASK);
    assert.equal(masked.fields.api_key, MASK);
    assert.equal(masked.fields.nested.Authorization, MASK);
    assert.equal(masked.fields.nested.sessionToken, MASK);
    assert.equal(masked.fields.empty_secret, '', 'an empty value hides nothing');
    assert.equal(masked.journal[0].value, 'see token in vault', 'a value that mentions a secret is not a secret field');
    assert.equal(message.fields.password, 'hunter2', 'the original is left as it was');
  });

  it('shows a payload masked and cut to size; text that is not JSON is not shown', () => {
    const text = JSON.stringify({ fields: { password: 'hunter2', note: 'x'.repeat(10_000) } });
    const shown = maskedPayload(text, 200);
    assert.ok(!shown.includes('hunter2'));
    assert.ok(shown.length <= 201);
    assert.ok(shown.endsWith('…'));
    assert.equal(maskedPayload('password=hunter2'), '(16 characters, not JSON)');
  });
});
