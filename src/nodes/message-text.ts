/**
 * Node-RED messages as JSON text, for holding them in the store: what cannot be
 * kept (the HTTP request and response of an http in node, functions, cycles) is
 * left out; Buffers come back as Buffers.
 */
import type { NodeMessage } from './red';

/** Top-level properties that are not kept: live objects, and our own bookkeeping. */
const NOT_KEPT = new Set(['req', 'res', 'error', 'rpsRetry']);
/** Deeper than this is left out (and no stack overflows on hostile input). */
const MAX_DEPTH = 64;

/**
 * A JSON-safe copy: functions, symbols and bigints are dropped, and so is a reference
 * back to an object it sits in (a cycle). An object referred to twice, side by side,
 * is kept twice: only the chain of parents counts as a cycle.
 */
function keepable(value: unknown, parents: Set<object>, depth: number): unknown {
  if (typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') return undefined;
  if (typeof value !== 'object' || value === null) return value;
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return withJson.toJSON();
  if (parents.has(value) || depth > MAX_DEPTH) return undefined;
  parents.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => keepable(v, parents, depth + 1) ?? null);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const kept = keepable(v, parents, depth + 1);
      if (kept !== undefined) out[k] = kept;
    }
    return out;
  } finally {
    parents.delete(value);
  }
}

export function messageToText(msg: NodeMessage): string {
  const top: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) if (!NOT_KEPT.has(k)) top[k] = v;
  return JSON.stringify(keepable(top, new Set(), 0));
}

export function messageFromText(text: string): NodeMessage {
  return JSON.parse(text, (_key, value: unknown) => {
    if (typeof value === 'object' && value !== null) {
      const v = value as { type?: unknown; data?: unknown };
      if (v.type === 'Buffer' && Array.isArray(v.data) && Object.keys(v).length === 2) return Buffer.from(v.data as number[]);
    }
    return value;
  }) as NodeMessage;
}
