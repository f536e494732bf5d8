/**
 * Which secret seals the store's secrets: the one Node-RED encrypts its credentials
 * with, chosen as @node-red/runtime/lib/nodes/credentials.js chooses it.
 */
import assert from 'node:assert/strict';
import { credentialSecretOf, type SettingsReader } from '../../src/nodes/credential-secret';

/** RED.settings: settings.js values, then the runtime settings (which throw until loaded). */
function settings(local: Record<string, unknown>, runtime: Record<string, unknown> | 'not loaded' = {}): SettingsReader {
  return {
    get(name: string): unknown {
      if (name in local) return local[name];
      if (runtime === 'not loaded') throw new Error('settings not available');
      return runtime[name];
    },
  };
}

describe("the credential secret (Node-RED's, for sealing the store's secrets)", () => {
  it('credentialSecret in settings.js', () => {
    assert.deepEqual(credentialSecretOf(settings({ credentialSecret: 'mine' })), { kind: 'user', secret: 'mine' });
  });

  it("the secret Node-RED generated, when settings.js sets none", () => {
    assert.deepEqual(credentialSecretOf(settings({}, { _credentialSecret: 'a1b2' })), { kind: 'system', secret: 'a1b2' });
  });

  it('moving from the generated secret to credentialSecret: the generated one still opens what it sealed', () => {
    assert.deepEqual(credentialSecretOf(settings({ credentialSecret: 'mine' }, { _credentialSecret: 'a1b2' })), { kind: 'user', secret: 'mine', previous: 'a1b2' });
    assert.deepEqual(credentialSecretOf(settings({ credentialSecret: 'same' }, { _credentialSecret: 'same' })), { kind: 'user', secret: 'same' });
  });

  it('credentialSecret false: in clear, as Node-RED keeps its credentials (the generated secret still opens what it sealed)', () => {
    assert.deepEqual(credentialSecretOf(settings({ credentialSecret: false })), { kind: 'disabled' });
    assert.deepEqual(credentialSecretOf(settings({ credentialSecret: false }, { _credentialSecret: 'a1b2' })), { kind: 'disabled', previous: 'a1b2' });
  });

  it('no secret at all (runtime settings not available to keep a generated one): in clear', () => {
    assert.deepEqual(credentialSecretOf(settings({}, 'not loaded')), { kind: 'disabled' });
    assert.deepEqual(credentialSecretOf({}), { kind: 'disabled' });
  });

  it("projects: the active project's secret; a project without one keeps credentials in clear", () => {
    const projects = (credentialSecret: unknown) => ({ activeProject: 'p1', projects: { p1: { credentialSecret }, p2: { credentialSecret: 'other' } } });
    const enabled = { editorTheme: { projects: { enabled: true } }, credentialSecret: 'from-settings' };
    assert.deepEqual(credentialSecretOf(settings(enabled, { projects: projects('project-secret') })), { kind: 'project', secret: 'project-secret' });
    assert.deepEqual(credentialSecretOf(settings(enabled, { projects: projects(false) })), { kind: 'disabled' });
    assert.deepEqual(credentialSecretOf(settings(enabled, { projects: projects('') })), { kind: 'disabled' });
    // No active project, or projects not enabled: settings.js decides.
    assert.deepEqual(credentialSecretOf(settings(enabled, { projects: { projects: {} } })), { kind: 'user', secret: 'from-settings' });
    assert.deepEqual(
      credentialSecretOf(settings({ ...enabled, editorTheme: { projects: { enabled: false } } }, { projects: projects('project-secret') })),
      { kind: 'user', secret: 'from-settings' },
    );
  });
});
