/**
 * The receiving side of one runtime: which remote systems may call us (and with
 * which credentials), which process events each of them may send, and where their
 * messages are stored. The HTTP handlers in transport/ call into this.
 */
import { type Envelope, type Handshake, PROTOCOL, UNKNOWN_PROCESS_EVENT } from '../core/protocol';
import type { Store } from '../store/types';
import { type BasicCredentials, credentialsMatch, parseBasicAuth } from '../transport/auth';
import type { InboundApi, ReceiveOutcome, HttpLimits } from '../transport/inbound-http';

export interface InboundPeer {
  /** The remote system's id in this runtime (its config node id). */
  id: string;
  name: string;
  store: Store;
  /** Our instance name as this peer sees it (set on the store the peer uses). */
  instanceName: string;
  /** The inbound API user the remote must present; none means it cannot call us. */
  credentials: BasicCredentials | undefined;
}

/** Where accepted messages of one (remote system, process event) go to be processed. */
export interface InboundEndpoint {
  notify(): void;
}

export interface ReceiverOptions {
  limits: () => HttpLimits;
  now?: () => number;
}

function endpointKey(remoteSystem: string, processEvent: string): string {
  return `${remoteSystem}\u0000${processEvent}`;
}

export class Receiver implements InboundApi<InboundPeer> {
  private readonly peers = new Map<string, InboundPeer>();
  private readonly endpoints = new Map<string, InboundEndpoint>();
  private readonly processEvents = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly o: ReceiverOptions) {
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.peers.size;
  }

  addPeer(peer: InboundPeer): void {
    this.peers.set(peer.id, peer);
  }

  removePeer(id: string, peer: InboundPeer): void {
    if (this.peers.get(id) === peer) this.peers.delete(id);
  }

  addEndpoint(remoteSystem: string, processEvent: string, endpoint: InboundEndpoint): void {
    this.endpoints.set(endpointKey(remoteSystem, processEvent), endpoint);
  }

  /** Wakes the endpoints of one remote system and process event, or of all (undefined matches any). */
  notifyEndpoints(remoteSystem?: string, processEvent?: string): void {
    for (const [key, endpoint] of this.endpoints) {
      const [remote, event] = key.split('\u0000');
      if ((remoteSystem === undefined || remote === remoteSystem) && (processEvent === undefined || event === processEvent)) endpoint.notify();
    }
  }

  removeEndpoint(remoteSystem: string, processEvent: string, endpoint: InboundEndpoint): void {
    const key = endpointKey(remoteSystem, processEvent);
    if (this.endpoints.get(key) === endpoint) this.endpoints.delete(key);
  }

  /** Process events defined in this runtime (counted, since several config nodes may share a name). */
  addProcessEvent(name: string): void {
    this.processEvents.set(name, (this.processEvents.get(name) ?? 0) + 1);
  }

  removeProcessEvent(name: string): void {
    const n = (this.processEvents.get(name) ?? 0) - 1;
    if (n > 0) this.processEvents.set(name, n);
    else this.processEvents.delete(name);
  }

  authenticate(authorization: string | undefined): InboundPeer | undefined {
    const given = parseBasicAuth(authorization);
    if (!given) return undefined;
    let found: InboundPeer | undefined;
    // Every peer is compared, so the time taken does not tell which one matched.
    for (const peer of this.peers.values()) {
      // An empty password never matches, whatever was configured.
      if (peer.credentials && peer.credentials.password !== '' && credentialsMatch(given, peer.credentials) && !found) found = peer;
    }
    return found;
  }

  limits(): HttpLimits {
    return this.o.limits();
  }

  handshake(peer: InboundPeer): Handshake {
    const events = new Set<string>(this.processEvents.keys());
    for (const key of this.endpoints.keys()) {
      const [remote, event] = key.split('\u0000');
      if (remote === peer.id) events.add(event);
    }
    return { protocol: PROTOCOL, instanceId: peer.store.instanceId, name: peer.instanceName, processEvents: [...events].sort() };
  }

  async receive(peer: InboundPeer, envelope: Envelope): Promise<ReceiveOutcome> {
    const touched = new Set<InboundEndpoint>();
    for (const m of envelope.messages) {
      const endpoint = m.kind === 'change' ? this.endpoints.get(endpointKey(peer.id, m.processEvent)) : undefined;
      // A process event defined here is accepted even while no inbound flow for it is
      // deployed (during a deploy, say): it waits in the inbound queue for one.
      if (!endpoint && !this.processEvents.has(m.processEvent)) {
        return { status: 404, code: UNKNOWN_PROCESS_EVENT, error: `unknown process event "${m.processEvent}"` };
      }
      if (endpoint) touched.add(endpoint);
    }
    let statuses;
    try {
      statuses = await peer.store.acceptInbound(peer.id, envelope.messages, this.now());
    } catch {
      return { status: 503, code: 'store-unavailable', error: 'store unavailable, try again later' };
    }
    for (const endpoint of touched) endpoint.notify();
    return { status: 200, results: envelope.messages.map((m, i) => ({ id: m.id, status: statuses[i] })) };
  }
}
