/**
 * rps-store (config): where the durable state lives. Without one, nodes use the
 * default SQLite file in the Node-RED user directory.
 */
import { isAbsolute, resolve } from 'node:path';
import { common, numberSetting } from './common';
import type { Node, NodeAPI, NodeDef } from './red';
import { runtimeOf, type StoreConfig } from './runtime';

interface StoreDef extends NodeDef {
  path?: string;
  instanceName?: string;
  keepProcessed?: string | number;
  keepSkipped?: string | number;
  keepError?: string | number;
  keepReady?: string | number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export interface StoreNode extends Node {
  storeConfig: StoreConfig;
}

/** The store configuration for a node that refers to rps-store `id` (or to none: the default). */
export function storeConfigOf(RED: NodeAPI, id: string | undefined): StoreConfig {
  const rt = runtimeOf(RED);
  if (!id) return rt.defaultStoreConfig();
  const node = RED.nodes.getNode(id) as StoreNode | null;
  if (!node?.storeConfig) throw new Error(common(RED, 'errors.no-store'));
  return node.storeConfig;
}

export default function (RED: NodeAPI): void {
  function RpsStoreNode(this: StoreNode, def: StoreDef): void {
    RED.nodes.createNode(this, def);
    const defaults = runtimeOf(RED).defaultStoreConfig();
    const path = (def.path ?? '').trim();
    const base = RED.settings.userDir ?? process.cwd();
    this.storeConfig = {
      path: path === '' ? defaults.path : isAbsolute(path) ? path : resolve(base, path),
      instanceName: (def.instanceName ?? '').trim() || defaults.instanceName,
      // Days in the editor; 0 keeps rows of that status for ever.
      retention: {
        processedMs: numberSetting(def.keepProcessed, defaults.retention.processedMs / DAY_MS, 0) * DAY_MS,
        skippedMs: numberSetting(def.keepSkipped, defaults.retention.skippedMs / DAY_MS, 0) * DAY_MS,
        errorMs: numberSetting(def.keepError, defaults.retention.errorMs / DAY_MS, 0) * DAY_MS,
        readyMs: numberSetting(def.keepReady, defaults.retention.readyMs / DAY_MS, 0) * DAY_MS,
      },
    };
  }
  RED.nodes.registerType('rps-store', RpsStoreNode);
}
