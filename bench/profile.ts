/**
 * Summarises CPU profiles written by `node --cpu-prof` (RPS_BENCH_PROFILE=<dir> with the
 * e2e bench): self time by function and by module, heaviest first.
 * Usage: node dist/bench/profile.js <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives, coarsely: a package, one of our modules, Node's internals. */
function moduleOf(url: string): string {
  if (url === '') return '(native / idle / gc)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const ours = /\/dist\/(src\/.*)$/.exec(url);
  if (ours) return ours[1];
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  return url;
}

export function summarise(profile: Profile, top: number): { total: number; byFunction: [string, number][]; byModule: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') continue;
    total += us;
    const key = `${f.functionName || '(anonymous)'} ${moduleOf(f.url)}:${f.lineNumber + 1}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    mod.set(moduleOf(f.url), (mod.get(moduleOf(f.url)) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { total, byFunction: sorted(fn), byModule: sorted(mod) };
}

if (require.main === module) {
  const [file, top = '25'] = process.argv.slice(2);
  const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(top));
  const pct = (us: number): string => ((us / s.total) * 100).toFixed(1).padStart(5) + '%';
  console.log(`busy ${(s.total / 1e6).toFixed(2)} s`);
  console.log('-- by module');
  for (const [k, us] of s.byModule) console.log(pct(us), k);
  console.log('-- by function');
  for (const [k, us] of s.byFunction) console.log(pct(us), k);
}
