import assert from 'node:assert/strict';
import { loadActivation, saveActivation } from '../../src/engine/activation';
import { SqliteStore } from '../../src/store/sqlite';

describe('remembered activation', () => {
  it('holds for the settings that were validated only: a new URL or user must be validated again', async () => {
    const store = new SqliteStore(':memory:');
    assert.deepEqual(await loadActivation(store, 'rs', 'settings-1'), { outbound: false, inbound: false });
    await saveActivation(store, 'rs', 'settings-1', { outbound: true, inbound: true }, 0);
    assert.deepEqual(await loadActivation(store, 'rs', 'settings-1'), { outbound: true, inbound: true });
    assert.deepEqual(await loadActivation(store, 'rs', 'settings-2'), { outbound: false, inbound: false });
    assert.deepEqual(await loadActivation(store, 'other', 'settings-1'), { outbound: false, inbound: false });
    await store.values.write('activation:rs', '{not json', 0);
    assert.deepEqual(await loadActivation(store, 'rs', 'settings-1'), { outbound: false, inbound: false });
    await store.close();
  });
});
