import assert from 'node:assert/strict';
import { applyMigrations, type Migration, MIGRATIONS, migrateConfig } from '../../src/core/config-migrations';
import { DEFAULT_JWT_ALGORITHMS } from '../../src/core/settings';

describe('config migrations', () => {
  it('give an old rps-remote-system the settings added since, with the values that keep its old behaviour', () => {
    const old = { id: 'rs', type: 'rps-remote-system', name: 'desk B', url: 'https://b.example.com' };
    assert.deepEqual(migrateConfig('rps-remote-system', old), {
      ...old,
      authType: 'none',
      inboundAuth: 'basic',
      tokenAuthMethod: 'header',
      jwtAlgorithms: DEFAULT_JWT_ALGORITHMS,
      activation: 'deploy',
    });
    assert.deepEqual(old, { id: 'rs', type: 'rps-remote-system', name: 'desk B', url: 'https://b.example.com' }, 'the given config is left as it is');
  });

  it('leave what a node has set, treat an empty field as missing, and change nothing when applied again', () => {
    const today = { activation: 'validate', authType: 'bearer', inboundAuth: 'jwt', tokenAuthMethod: 'body', jwtAlgorithms: 'ES256' };
    assert.deepEqual(migrateConfig('rps-remote-system', today), today);
    const once = migrateConfig('rps-remote-system', { jwtAlgorithms: '', activation: '' });
    assert.equal(once.jwtAlgorithms, DEFAULT_JWT_ALGORITHMS);
    assert.equal(once.activation, 'deploy');
    assert.deepEqual(migrateConfig('rps-remote-system', once), once);
  });

  it('keep the hidden properties Node-RED puts on a config (its _flow)', () => {
    const flow = {};
    const config: Record<string, unknown> = { id: 'rs' };
    Object.defineProperty(config, '_flow', { value: flow, enumerable: false, writable: true });
    const migrated = migrateConfig('rps-remote-system', config);
    assert.equal(migrated._flow, flow);
    assert.equal(Object.keys(migrated).includes('_flow'), false, 'still hidden');
    assert.equal(config.activation, undefined, 'the given config is left as it is');
  });

  it('leave the nodes of other types alone', () => {
    assert.deepEqual(migrateConfig('rps-map', { mappings: [] }), { mappings: [] });
    assert.deepEqual(migrateConfig('toString', {}), {});
  });

  it('apply their steps in order: a renamed property keeps its value, and a later step sees the new name', () => {
    const steps: Record<string, readonly Migration[]> = {
      t: [
        { name: 'rename', renamed: { old: 'now' } },
        { name: 'added', added: { now: 'default', other: 1 } },
      ],
    };
    assert.deepEqual(applyMigrations(steps, 't', { old: 'kept' }), { now: 'kept', other: 1 });
    assert.deepEqual(applyMigrations(steps, 't', { old: 'old', now: 'new' }), { now: 'new', other: 1 });
    assert.deepEqual(applyMigrations(steps, 't', {}), { now: 'default', other: 1 });
  });

  it('turn a capture\'s comma-separated included fields into a list, once, and capture non-interactive changes as before', () => {
    const old = { id: 'c', table: 'incident', fields: ' short_description, state ,, priority ' };
    const migrated = migrateConfig('rps-capture', old);
    assert.deepEqual(migrated, { id: 'c', table: 'incident', includedFields: ['short_description', 'state', 'priority'], captureNonInteractive: true });
    assert.deepEqual(migrateConfig('rps-capture', migrated), migrated);
    assert.deepEqual(migrateConfig('rps-capture', { fields: '' }), { includedFields: [], captureNonInteractive: true });
    // A node saved by today's form keeps its list (and its choice).
    const today = { includedFields: ['a'], captureNonInteractive: false };
    assert.deepEqual(migrateConfig('rps-capture', today), today);
  });

  it('keep an old correlate on its two outputs (an inactive link counts as not correlated); a new one keeps its choice', () => {
    assert.deepEqual(migrateConfig('rps-correlate', { id: 'k', remoteSystem: 'rs' }), { id: 'k', remoteSystem: 'rs', inactiveOutput: false });
    for (const inactiveOutput of [true, false]) assert.deepEqual(migrateConfig('rps-correlate', { inactiveOutput }), { inactiveOutput });
  });

  it('have names that are unique per node type', () => {
    for (const [type, steps] of Object.entries(MIGRATIONS)) {
      const names = steps.map((s) => s.name);
      assert.equal(new Set(names).size, names.length, type);
    }
  });
});
