/**
 * Config-node property migrations: how a node saved by an older version of this package
 * becomes one of today's shape. Per node type, an ordered list of small named steps; each
 * step only fills in or moves what is missing, so applying them again changes nothing
 * (a flow carries no version number). The runtime applies them at the top of each node
 * constructor, the editor when a form opens an old node (resources/rps-rules.js), so both
 * read the same properties. Pure and data-only, so that the editor can run the same code.
 */
import { DEFAULT_JWT_ALGORITHMS } from './settings';

export interface Migration {
  /** What changed, for readers and tests. */
  readonly name: string;
  /** Properties introduced later: the value that gives an old node its old behaviour. */
  readonly added?: Readonly<Record<string, string | number | boolean>>;
  /** Properties renamed: old name → new name (the old one is removed). */
  readonly renamed?: Readonly<Record<string, string>>;
  /**
   * Comma-separated texts that became lists: old name → new name. The new list holds
   * the old text's items, trimmed, empty ones left out; the old property is removed.
   */
  readonly split?: Readonly<Record<string, string>>;
}

export const MIGRATIONS: Readonly<Record<string, readonly Migration[]>> = Object.freeze({
  'rps-remote-system': Object.freeze<Migration[]>([
    // Before the inbound JWT and OAuth2 settings, a remote system called with basic
    // authentication or none, and accepted basic authentication.
    { name: 'auth-settings', added: { authType: 'none', inboundAuth: 'basic', tokenAuthMethod: 'header' } },
    { name: 'jwt-algorithms', added: { jwtAlgorithms: DEFAULT_JWT_ALGORITHMS } },
    // Before the activation setting, a remote system became active at deploy.
    { name: 'activation-setting', added: { activation: 'deploy' } },
  ]),
  'rps-capture': Object.freeze<Migration[]>([
    // Included fields were a comma-separated text before the form's list.
    { name: 'included-fields-list', split: { fields: 'includedFields' } },
    // Before the setting, every change was captured, interactive or not.
    { name: 'non-interactive-setting', added: { captureNonInteractive: true } },
  ]),
  'rps-correlate': Object.freeze<Migration[]>([
    // Before the third output, an inactive link went to output 2 (not correlated), and the
    // node had two outputs: the wires of its flows have two ports.
    { name: 'inactive-output-setting', added: { inactiveOutput: false } },
  ]),
});

/**
 * Applies the migrations of `type` to `config` in place and returns it. Written without
 * anything from outside its body: the editor's script carries its source text.
 */
export function applyMigrations<T extends object>(migrations: Readonly<Record<string, readonly Migration[]>>, type: string, config: T): T {
  const props = config as Record<string, unknown>;
  const steps = Object.prototype.hasOwnProperty.call(migrations, type) ? migrations[type] : [];
  for (const step of steps) {
    for (const [from, to] of Object.entries(step.renamed ?? {})) {
      if (props[from] === undefined) continue;
      if (props[to] === undefined) props[to] = props[from];
      delete props[from];
    }
    for (const [from, to] of Object.entries(step.split ?? {})) {
      const text = props[from];
      if (typeof text !== 'string') continue;
      if (!Array.isArray(props[to])) props[to] = text.split(',').map((item) => item.trim()).filter((item) => item !== '');
      delete props[from];
    }
    for (const [name, value] of Object.entries(step.added ?? {})) {
      if (props[name] === undefined || props[name] === null || props[name] === '') props[name] = value;
    }
  }
  return config;
}

/**
 * Today's shape of a node's config: what each node constructor calls first. Works on a
 * copy, so that Node-RED's own copy of the flow stays as deployed; the copy keeps every
 * property as it is defined, non-enumerable ones too (Node-RED links a node to its flow
 * through a hidden `_flow`, which the node needs to log).
 */
export function migrateConfig<T extends object>(type: string, config: T): T {
  const copy = Object.create(Object.getPrototypeOf(config) as object | null, Object.getOwnPropertyDescriptors(config)) as T;
  return applyMigrations(MIGRATIONS, type, copy);
}
