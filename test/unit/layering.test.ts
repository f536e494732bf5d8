/**
 * The one-way layering nodes → engine → store/transport → core, read from the
 * TypeScript sources: which layer may import which, a pure core, and no import cycle.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

/** The repository root, from dist/test/unit (compiled) or test/unit (ts-node). */
function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

const ROOT = repoRoot();
const SRC = join(ROOT, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Module specifiers of `import … from '…'`, `export … from '…'`, `import '…'` and `require('…')`. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const pattern = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s*'([^']+)'|(?:^|\n)\s*import\s*'([^']+)'|\brequire\(\s*'([^']+)'\s*\)/g;
  for (const m of text.matchAll(pattern)) found.push(m[1] ?? m[2] ?? m[3]);
  return found;
}

/** The source file a relative specifier names, as a path relative to src/ (without .ts). */
function target(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  const file = [`${base}.ts`, join(base, 'index.ts')].find((f) => existsSync(f));
  return file ? relative(SRC, file).replace(/\.ts$/, '') : relative(SRC, base);
}

interface Module {
  name: string;
  /** Our modules it imports (relative to src/). */
  ours: string[];
  /** Packages and Node.js modules it imports. */
  external: string[];
}

const modules: Module[] = sources(SRC).map((file) => {
  const specs = specifiers(readFileSync(file, 'utf8'));
  return {
    name: relative(SRC, file).replace(/\.ts$/, ''),
    ours: specs.map((s) => target(file, s)).filter((t): t is string => t !== undefined),
    external: specs.filter((s) => !s.startsWith('.')),
  };
});

const layerOf = (name: string): string => name.split('/')[0];

/** Node.js modules that reach the world outside the process (files, network, processes, threads). */
const IO_MODULES = new Set(['fs', 'fs/promises', 'net', 'http', 'https', 'http2', 'tls', 'dgram', 'dns', 'dns/promises', 'child_process', 'cluster', 'worker_threads', 'os', 'readline', 'repl', 'inspector', 'vm']);

function violations(from: string, forbidden: (to: string) => boolean): string[] {
  return modules.filter((m) => layerOf(m.name) === from).flatMap((m) => m.ours.filter(forbidden).map((to) => `${m.name} → ${to}`));
}

describe('layering of src/', () => {
  it('finds the sources', () => {
    assert.ok(modules.length > 20, `only ${modules.length} modules under ${SRC}`);
    for (const layer of ['core', 'engine', 'nodes', 'store', 'transport']) assert.ok(modules.some((m) => layerOf(m.name) === layer), layer);
  });

  it('nodes talk to the engine (and pure core helpers) only, never to store or transport', () => {
    assert.deepEqual(
      violations('nodes', (to) => ['store', 'transport'].includes(layerOf(to))),
      [],
    );
  });

  it('core imports nothing of ours outside core and no Node.js I/O module', () => {
    assert.deepEqual(
      violations('core', (to) => layerOf(to) !== 'core'),
      [],
    );
    const io = modules
      .filter((m) => layerOf(m.name) === 'core')
      .flatMap((m) =>
        m.external
          .map((s) => s.replace(/^node:/, ''))
          .filter((s) => IO_MODULES.has(s) || !builtinModules.includes(s))
          .map((s) => `${m.name} → ${s}`),
      );
    assert.deepEqual(io, []);
  });

  it('engine, store and transport never import nodes; store and transport never import the engine', () => {
    for (const layer of ['engine', 'store', 'transport']) assert.deepEqual(violations(layer, (to) => layerOf(to) === 'nodes'), [], layer);
    for (const layer of ['store', 'transport']) assert.deepEqual(violations(layer, (to) => layerOf(to) === 'engine'), [], layer);
  });

  it('nothing below the monitor imports it (it reads stores and acts through the engine, like a node)', () => {
    for (const layer of ['core', 'engine', 'store', 'transport']) assert.deepEqual(violations(layer, (to) => layerOf(to) === 'monitor'), [], layer);
    assert.deepEqual(
      violations('nodes', (to) => layerOf(to) === 'monitor').filter((v) => !v.startsWith('nodes/rps-stats →')),
      [],
      'only the rps-stats node uses the monitor’s figures',
    );
  });

  it('has no import cycle among src/ modules', () => {
    const edges = new Map(modules.map((m) => [m.name, m.ours]));
    const done = new Set<string>();
    const path: string[] = [];
    const cycles: string[] = [];
    const visit = (name: string): void => {
      const at = path.indexOf(name);
      if (at >= 0) {
        cycles.push([...path.slice(at), name].join(' → '));
        return;
      }
      if (done.has(name)) return;
      path.push(name);
      for (const next of edges.get(name) ?? []) visit(next);
      path.pop();
      done.add(name);
    };
    for (const m of modules) visit(m.name);
    assert.deepEqual(cycles, []);
  });
});
