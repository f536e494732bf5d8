/**
 * Product code never depends on test code: nothing under src/, scripts/, bench/ or
 * tools/ imports a module under test/ (tools/ holds what the demo, the benchmarks and
 * the end-to-end tests share). Read from the TypeScript sources, so that a type-only
 * import counts too.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');
const PRODUCT_DIRS = ['src', 'scripts', 'bench', 'tools'];
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.[cm]?[jt]s$/.test(entry.name) ? [path] : [];
  });
}

/** The relative module specifiers of one source file. */
export function relativeImports(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((m) => m[1]).filter((s) => s.startsWith('.'));
}

describe('layering: product code never imports test code', () => {
  it('finds import, export-from, dynamic import and require specifiers', () => {
    const text = "import a from './a';\nexport { b } from '../b';\nconst c = require('./c');\nvoid import('../d');\nimport './e';\nimport x from 'node:fs';";
    assert.deepEqual(relativeImports(text), ['./a', '../b', './c', '../d', './e']);
  });

  it('no file under src/, scripts/, bench/ or tools/ imports from test/', () => {
    const testDir = join(ROOT, 'test') + sep;
    const offending: string[] = [];
    let files = 0;
    for (const dir of PRODUCT_DIRS) {
      for (const file of sources(join(ROOT, dir))) {
        files++;
        for (const spec of relativeImports(readFileSync(file, 'utf8'))) {
          const target = resolve(dirname(file), spec);
          if ((target + sep).startsWith(testDir)) offending.push(`${relative(ROOT, file)} imports ${spec}`);
        }
      }
    }
    assert.ok(files > 20, `expected the product sources, found ${files} files`);
    assert.deepEqual(offending, []);
  });
});
