/** Calling a desk of the "Two help desks" examples through its REST API, as a person's tools would. */
import type { Desk } from '../../scripts/demo-setup';

export type Row = Record<string, unknown> & { id: string };

export async function call(desk: Desk, method: string, path: string, body?: unknown): Promise<Row | Row[]> {
  const res = await fetch(`${desk.instance.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = (await res.json()) as Row | Row[];
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

/** Every record of the desk's table. */
export const list = async (desk: Desk): Promise<Row[]> => (await call(desk, 'GET', desk.spec.path)) as Row[];
