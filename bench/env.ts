/** What the benchmarks read from the environment. */

/** A positive whole number from the variable `name`, or `fallback` when it is unset or empty; anything else throws, naming the variable. */
export function positiveIntFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}: expected a positive integer, got "${raw}"`);
  return n;
}
