import assert from 'node:assert/strict';
import { applyMappings, compileMappings, MappingError } from '../../src/core/mapping';

describe('core/mapping', () => {
  const mappings = compileMappings([
    { target: 'title', type: 'field', value: 'short_description' },
    { target: 'urgency', type: 'value', value: 'priority', map: '{"1":"critical","2":"high"}' },
    { target: 'source', type: 'fixed', value: 'desk A' },
    { target: 'weight', type: 'fixed', value: '2.5', valueType: 'num' },
    { target: 'flag', type: 'fixed', value: 'true', valueType: 'bool' },
    { target: 'tags', type: 'fixed', value: '["a"]', valueType: 'json' },
  ]);

  it('maps fields, value maps and fixed values', () => {
    const r = applyMappings(mappings, { short_description: 'Printer', priority: 1, secret: 's' }, ['short_description', 'priority'], false);
    assert.deepEqual(r.fields, { title: 'Printer', urgency: 'critical', source: 'desk A', weight: 2.5, flag: true, tags: ['a'] });
    assert.deepEqual(r.changedFields.sort(), ['title', 'urgency']);
  });

  it('leaves a target absent when its source is absent, and passes unknown map values through', () => {
    const r = applyMappings(mappings, { priority: 9 }, ['priority'], false);
    assert.equal('title' in r.fields, false);
    assert.equal(r.fields.urgency, 9);
  });

  it('keeps unmapped fields on request', () => {
    const r = applyMappings(mappings, { short_description: 'P', other: 1 }, ['other'], true);
    assert.equal(r.fields.other, 1);
    assert.equal('short_description' in r.fields, false, 'a consumed source is not kept');
    assert.deepEqual(r.changedFields, ['other']);
  });

  it('refuses bad rows with a message naming the field', () => {
    assert.throws(() => compileMappings([{ target: '', type: 'field', value: 'x' }]), /row 1: target field is empty/);
    assert.throws(() => compileMappings([{ target: 't', type: 'field', value: ' ' }]), /"t": source field is empty/);
    assert.throws(() => compileMappings([{ target: 'n', type: 'fixed', value: 'abc', valueType: 'num' }]), MappingError);
    assert.throws(() => compileMappings([{ target: 'b', type: 'fixed', value: 'yes', valueType: 'bool' }]), /not true or false/);
    assert.throws(() => compileMappings([{ target: 'v', type: 'value', value: 'x', map: '{bad' }]), /not valid JSON/);
    assert.throws(() => compileMappings([{ target: 'v', type: 'value', value: 'x', map: '[1]' }]), /must be a JSON object/);
  });
});
