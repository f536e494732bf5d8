/**
 * Node statuses as the editor sees them: read from a running instance's comms websocket.
 */
import WebSocket from 'ws';
import type { NodeRedInstance } from '../../tools/nodered';

export interface ShownStatus {
  text?: string;
  fill?: string;
  shape?: string;
}

/**
 * Resolves with the first status of node `id` (from the editor's comms websocket) that
 * `accept` takes. Node statuses are retained, so one shown before the socket subscribed
 * is delivered too.
 */
export function nodeStatus(instance: NodeRedInstance, id: string, accept: (status: ShownStatus) => boolean, timeoutMs: number): Promise<ShownStatus> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`${instance.adminUrl.replace(/^http/, 'ws')}/comms`);
    const seen: ShownStatus[] = [];
    const timer = setTimeout(() => {
      ws.terminate();
      rej(new Error(`${instance.name}: no matching status of node ${id} within ${timeoutMs} ms; seen: ${JSON.stringify(seen)}`));
    }, timeoutMs);
    const subscribe = (): void => ws.send(JSON.stringify({ subscribe: `status/${id}` }));
    // With adminAuth the socket presents a token first, and may subscribe once it is accepted.
    ws.on('open', () => (instance.adminToken ? ws.send(JSON.stringify({ auth: instance.adminToken })) : subscribe()));
    ws.on('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
    ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString()) as { auth?: string } | { topic: string; data: ShownStatus }[];
      if (!Array.isArray(parsed)) {
        if (parsed.auth === 'ok') subscribe();
        else if (parsed.auth) {
          clearTimeout(timer);
          ws.terminate();
          rej(new Error(`${instance.name}: comms refused the admin token`));
        }
        return;
      }
      const batch = parsed;
      for (const m of Array.isArray(batch) ? batch : []) {
        if (m.topic !== `status/${id}`) continue;
        seen.push(m.data);
        if (!accept(m.data)) continue;
        clearTimeout(timer);
        ws.close();
        res(m.data);
        return;
      }
    });
  });
}
