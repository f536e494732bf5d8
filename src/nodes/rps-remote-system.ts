/**
 * rps-remote-system (config): the connection to one other instance. Outbound: its
 * URL and how we authenticate to it; this node owns the outbox sender that delivers
 * the outbound queue. Inbound: the API user the remote must present to call us.
 */
import type { InboundPeer } from '../engine/receiver';
import { RemoteSystem } from '../engine/remote';
import type { Store } from '../store/types';
import type { OutboundAuth } from '../transport/client';
import { common, errorText, numberSetting } from './common';
import type { Node, NodeAPI, NodeDef } from './red';
import { storeConfigOf } from './rps-store';
import { runtimeOf, type StoreConfig } from './runtime';

interface RemoteSystemDef extends NodeDef {
  url?: string;
  store?: string;
  authType?: string;
  batchSize?: string | number;
  maxInFlight?: string | number;
  timeout?: string | number;
  retryDelay?: string | number;
  retryMaxDelay?: string | number;
  linger?: string | number;
  maxTries?: string | number;
  probeInterval?: string | number;
}

interface RemoteCredentials {
  user: string;
  password: string;
  inboundUser: string;
  inboundPassword: string;
}

export interface RemoteSystemNode extends Node<RemoteCredentials> {
  systemName: string;
  /** Undefined when the store could not be opened (the node logged why). */
  store: Store | undefined;
  /** Undefined when no URL is set (the remote can call us, we cannot call it) or the URL is invalid. */
  remote: RemoteSystem | undefined;
  /** Why this remote system cannot be used outbound, when it cannot. */
  outboundError: string | undefined;
  storeConfig: StoreConfig | undefined;
}

/** Accepts http(s) URLs only, and refuses ones that carry credentials (they belong in the credential fields). */
export function checkRemoteUrl(text: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username || url.password) return undefined;
  return url;
}

export default function (RED: NodeAPI): void {
  function RpsRemoteSystemNode(this: RemoteSystemNode, def: RemoteSystemDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const rt = runtimeOf(RED);
    node.systemName = def.name || def.id;
    node.store = undefined;
    node.remote = undefined;
    node.outboundError = RED._('rps-remote-system.errors.no-url');
    let peer: InboundPeer | undefined;

    let storeConfig: StoreConfig;
    node.storeConfig = undefined;
    try {
      storeConfig = storeConfigOf(RED, def.store);
      node.storeConfig = storeConfig;
      node.store = rt.acquireStore(storeConfig);
    } catch (err) {
      node.outboundError = common(RED, 'errors.store-open', { error: errorText(err) });
      node.error(node.outboundError);
      return;
    }
    const store = node.store;
    const creds = node.credentials ?? {};

    const urlText = (def.url ?? '').trim();
    if (urlText !== '') {
      const url = checkRemoteUrl(urlText);
      if (!url) {
        node.outboundError = RED._('rps-remote-system.errors.bad-url');
        node.error(node.outboundError);
      } else {
        node.outboundError = undefined;
        const auth: OutboundAuth =
          def.authType === 'basic' ? { type: 'basic', user: creds.user ?? '', password: creds.password ?? '' } : { type: 'none' };
        const retryDelay = numberSetting(def.retryDelay, 1, 0.01) * 1000;
        node.remote = new RemoteSystem({
          id: node.id,
          url: url.toString(),
          auth,
          timeoutMs: numberSetting(def.timeout, 30, 1) * 1000,
          batchSize: Math.floor(numberSetting(def.batchSize, 200, 1)),
          maxInFlight: Math.floor(numberSetting(def.maxInFlight, 2, 1)),
          lingerMs: numberSetting(def.linger, 5, 0),
          backoff: { baseMs: retryDelay, maxMs: Math.max(retryDelay, numberSetting(def.retryMaxDelay, 60, 0.01) * 1000) },
          maxTries: Math.floor(numberSetting(def.maxTries, 3, 1)),
          probeIntervalMs: numberSetting(def.probeInterval, 30, 0.01) * 1000,
          store,
          sender: { instanceId: store.instanceId, name: storeConfig.instanceName },
          owner: rt.owner,
        });
        node.remote.on('fault', (err) => node.error(common(RED, 'errors.store', { error: errorText(err) })));
        node.remote.on('failed', (count, error) => node.warn(RED._('rps-remote-system.warnings.failed', { count, error })));
        node.remote.on('requeued', (count) => node.log(RED._('rps-remote-system.warnings.requeued', { count })));
        node.remote.start().catch((err: unknown) => node.error(common(RED, 'errors.store', { error: errorText(err) })));
        rt.remotes.set(node.id, node.remote);
      }
    }

    if (creds.inboundUser && !creds.inboundPassword) {
      // A user name alone is no secret: without a password nobody may call us as this system.
      node.error(RED._('rps-remote-system.errors.no-inbound-password'));
    } else if (creds.inboundUser && creds.inboundPassword) {
      peer = {
        id: node.id,
        name: node.systemName,
        store,
        instanceName: storeConfig.instanceName,
        credentials: { user: creds.inboundUser, password: creds.inboundPassword },
      };
      rt.receiver.addPeer(peer);
      rt.updateRoutes();
    }

    node.on('close', (_removed, done) => {
      void (async () => {
        try {
          if (peer) {
            rt.receiver.removePeer(node.id, peer);
            rt.updateRoutes();
          }
          if (node.remote && rt.remotes.get(node.id) === node.remote) rt.remotes.delete(node.id);
          await node.remote?.stop();
          await rt.releaseStore(store);
        } catch (err) {
          node.error(common(RED, 'errors.store', { error: errorText(err) }));
        } finally {
          done();
        }
      })();
    });
  }

  RED.nodes.registerType('rps-remote-system', RpsRemoteSystemNode, {
    credentials: {
      user: { type: 'text' },
      password: { type: 'password' },
      inboundUser: { type: 'text' },
      inboundPassword: { type: 'password' },
    },
  });
}

/** The remote system a node refers to, or an error naming what is missing. */
export function remoteSystemOf(RED: NodeAPI, id: string | undefined): RemoteSystemNode & { store: Store } {
  const node = id ? (RED.nodes.getNode(id) as RemoteSystemNode | null) : null;
  if (!node || node.type !== 'rps-remote-system') throw new Error(common(RED, 'errors.no-remote-system'));
  if (!node.store) throw new Error(common(RED, 'errors.store-unavailable'));
  return node as RemoteSystemNode & { store: Store };
}
