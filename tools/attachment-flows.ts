/**
 * The flows of the attachment tests and benchmark: A's records have folders of files
 * that go with their changes (rps-attachment-sync, send mode); B writes the record and
 * then the files it is handed into a folder per local record (receive mode).
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { A_TO_B, B_TO_A, receiverFlow, senderFlow } from './flows';
import type { FlowNode } from './nodered';

/** Function nodes in these flows write files: settings.js gives them fs and path. */
export const FS_SETTINGS = `{ functionGlobalContext: { fs: require('fs'), path: require('path') } }`;

/** A: `POST /change {operation, record, attachments}` → capture → correlate → map → attachments (send) → send. */
export function originFlow(remoteUrl: string, options: { removals?: boolean; maxSizeMb?: number; extra?: FlowNode[] } = {}): FlowNode[] {
  const flow = senderFlow({ remoteUrl, remoteName: 'B', outbound: A_TO_B, inbound: B_TO_A }).flatMap((node): FlowNode[] => {
    if (node.id === 'unpack') {
      const rules = node.rules as object[];
      return [{ ...node, rules: [{ t: 'set', p: 'attachments', pt: 'msg', to: 'payload.attachments', tot: 'msg' }, ...rules] }];
    }
    if (node.id === 'map') return [{ ...node, wires: [['att']] }];
    if (node.id === 'snd') {
      return [
        {
          id: 'att',
          type: 'rps-attachment-sync',
          z: node.z,
          mode: 'send',
          remoteSystem: 'rs',
          property: 'attachments',
          strategy: 'deltas',
          removals: options.removals ?? true,
          maxSizeMb: String(options.maxSizeMb ?? 0),
          extensions: '',
          keyDays: '7',
          x: 800,
          y: 160,
          wires: [['snd']],
        },
        node,
      ];
    }
    if (node.id === 'catch') return [{ ...node, scope: [...(node.scope as string[]), 'att'] }];
    return [node];
  });
  return [...flow, ...(options.extra ?? [])];
}

/** B: inbound → correlate → map → records API → attachments (receive) → complete; files to `<folder>/<local id>/`. */
export function receiverWithFiles(remoteUrl: string, recordsUrl: string, folder: string): FlowNode[] {
  const store = `
const fs = global.get('fs'); const path = global.get('path');
const dir = path.join(${JSON.stringify(folder)}, msg.rps.localId);
const to = path.join(dir, msg.filename);
if (path.dirname(to) !== dir) { node.error('a file name that leaves its folder: ' + msg.filename, msg); return null; }
const work = msg.rps.action === 'remove'
  ? fs.promises.rm(to, { force: true })
  : fs.promises.mkdir(dir, { recursive: true }).then(() => fs.promises.copyFile(msg.payload, to));
work.then(() => { node.send(msg); node.done(); }, (err) => node.error(err, msg));
return null;`;
  return receiverFlow({ remoteUrl, remoteName: 'A', outbound: B_TO_A, inbound: A_TO_B, recordsUrl }).flatMap((node): FlowNode[] => {
    if (node.id === 'check') {
      return [
        { ...node, wires: [['att']] },
        { id: 'att', type: 'rps-attachment-sync', z: node.z, mode: 'receive', remoteSystem: 'rs', processEvent: 'pe', localId: 'payload.id', localIdType: 'msg', localTable: 'record', content: 'path', outputs: 2, x: 900, y: 160, wires: [['done'], ['store']] },
        { id: 'store', type: 'function', z: node.z, name: 'store file', func: store, outputs: 1, x: 1000, y: 220, wires: [['done']] },
      ];
    }
    if (node.id === 'catch') return [{ ...node, scope: [...(node.scope as string[]), 'store'] }];
    return [node];
  });
}

/** Writes `size` random bytes to `path` in 1 MB pieces (a large file never sits in memory whole). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const out = createWriteStream(path);
  for (let left = size; left > 0; left -= 1024 * 1024) {
    if (!out.write(randomBytes(Math.min(left, 1024 * 1024)))) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}
