/** Driving the "Two help desks" flows through their REST APIs, as the demo and identity tests do. */
import type { Desk } from '../../scripts/demo-setup';
import type { NodeRedInstance } from '../../tools/nodered';

export type Row = Record<string, unknown> & { id: string };

/** Calls a desk's REST API; throws on an answer of 300 or more. */
export async function deskCall(instance: NodeRedInstance, method: string, path: string, body?: unknown): Promise<Row | Row[]> {
  const res = await fetch(`${instance.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = (await res.json()) as Row | Row[];
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

/** Runs `fn` over `items`, `n` at a time. */
export async function parallel<T>(items: readonly T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/** Calls a desk (of scripts/demo-setup) by its REST API. */
export const call = (desk: Desk, method: string, path: string, body?: unknown): Promise<Row | Row[]> => deskCall(desk.instance, method, path, body);

/** Every record of the desk's table. */
export const list = async (desk: Desk): Promise<Row[]> => (await call(desk, 'GET', desk.spec.path)) as Row[];
