/**
 * rps-store (config): where the durable state lives: a SQLite file (without a store
 * node, rps-store.sqlite in the Node-RED user directory), or a PostgreSQL database that
 * several Node-RED processes share.
 */
import { isAbsolute, resolve } from 'node:path';
import { SCHEMA_NAME } from '../engine/stores';
import { ruledNumber, STORE_NUMBERS } from '../core/settings';
import { common, errorText } from './common';
import { prepareSealKeys } from './credential-secret';
import type { Node, NodeAPI, NodeDef } from './red';
import { runtimeOf, type StoreConfig, type StoreLocation } from './runtime';

interface StoreDef extends NodeDef {
  storeType?: 'sqlite' | 'postgres';
  path?: string;
  /** postgres://user@host:port/database, without the password. */
  pgUrl?: string;
  pgSchema?: string;
  pgPool?: string | number;
  instanceName?: string;
  keepProcessed?: string | number;
  keepSkipped?: string | number;
  keepError?: string | number;
  keepReady?: string | number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export interface StoreNode extends Node<{ pgPassword: string }> {
  storeConfig: StoreConfig | undefined;
  /** Why the settings cannot be used, when they cannot. */
  storeError: string | undefined;
}

/** The PostgreSQL location of these settings; throws an i18n text on bad settings. */
function postgresLocation(RED: NodeAPI, def: StoreDef, password: string | undefined): StoreLocation {
  const text = (def.pgUrl ?? '').trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(RED._('rps-store.errors.bad-url'));
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') throw new Error(RED._('rps-store.errors.bad-url'));
  // The flow file is not the place for a secret: the password is a credential.
  // (pg also reads ?password=... from the query.)
  if (url.password !== '' || url.searchParams.has('password')) throw new Error(RED._('rps-store.errors.password-in-url'));
  const schema = (def.pgSchema ?? '').trim();
  if (schema !== '' && !SCHEMA_NAME.test(schema)) throw new Error(RED._('rps-store.errors.bad-schema'));
  return {
    kind: 'postgres',
    connectionString: text,
    ...(password ? { password } : {}),
    ...(schema ? { schema } : {}),
    poolSize: ruledNumber(STORE_NUMBERS.pgPool, def.pgPool),
  };
}

/** The store configuration for a node that refers to rps-store `id` (or to none: the default). */
export function storeConfigOf(RED: NodeAPI, id: string | undefined): StoreConfig {
  const rt = runtimeOf(RED);
  if (!id) return rt.defaultStoreConfig();
  const node = RED.nodes.getNode(id) as StoreNode | null;
  if (!node) throw new Error(common(RED, 'errors.no-store'));
  if (!node.storeConfig) throw new Error(node.storeError ?? common(RED, 'errors.no-store'));
  return node.storeConfig;
}

export default function (RED: NodeAPI): void {
  function RpsStoreNode(this: StoreNode, def: StoreDef): void {
    RED.nodes.createNode(this, def);
    const defaults = runtimeOf(RED).defaultStoreConfig();
    this.storeConfig = undefined;
    this.storeError = undefined;
    let location: StoreLocation;
    if (def.storeType === 'postgres') {
      try {
        location = postgresLocation(RED, def, this.credentials?.pgPassword);
      } catch (err) {
        this.storeError = common(RED, 'errors.store-open', { error: errorText(err) });
        this.error(this.storeError);
        return;
      }
    } else {
      const path = (def.path ?? '').trim();
      const base = RED.settings.userDir ?? process.cwd();
      location = path === '' ? defaults.location : { kind: 'sqlite', path: isAbsolute(path) ? path : resolve(base, path) };
    }
    this.storeConfig = {
      location,
      instanceName: (def.instanceName ?? '').trim() || defaults.instanceName,
      // Days in the editor; 0 keeps rows of that status for ever.
      retention: {
        processedMs: ruledNumber(STORE_NUMBERS.keepProcessed, def.keepProcessed) * DAY_MS,
        skippedMs: ruledNumber(STORE_NUMBERS.keepSkipped, def.keepSkipped) * DAY_MS,
        errorMs: ruledNumber(STORE_NUMBERS.keepError, def.keepError) * DAY_MS,
        readyMs: ruledNumber(STORE_NUMBERS.keepReady, def.keepReady) * DAY_MS,
      },
    };
  }
  RED.nodes.registerType('rps-store', RpsStoreNode, { credentials: { pgPassword: { type: 'password' } } });
  // The key that seals the stores' secrets is ready by the time the flows start.
  prepareSealKeys(RED);
}
