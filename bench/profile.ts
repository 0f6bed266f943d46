// A short reading of the V8 CPU profiles a server wrote with `node --cpu-prof` (bench/run.ts
// --profile): self time by function and by where the code lives (our src/, adapters/, each
// package, Node's internals), so that "what is hot" fits in a terminal.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type ProfileNode = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] };
type CpuProfile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };

/** Where a script lives: `src/…`, `adapters/…`, `pkg:<name>`, `node:internal`, or `(native)`. */
function areaOf(url: string, root: string): string {
  if (!url) return '(native/gc/idle)';
  if (url.startsWith('node:')) return 'node:internal';
  const path = url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return `pkg:${pkg[1]}`;
  if (path.startsWith(root)) return path.slice(root.length).split('/').slice(0, 2).join('/');
  return path;
}

function top(map: Map<string, number>, total: number, count: number): string[] {
  return [...map].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, ms]) => `  ${((ms / total) * 100).toFixed(1).padStart(5)}%  ${ms.toFixed(0).padStart(6)} ms  ${name}`);
}

/** The profile summary of every .cpuprofile in `dir`, as lines of text. */
export function summarizeProfiles(dir: string, root: string, count = 18): string[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const interval = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
    // Inclusive time of the project's own functions (src/, adapters/): the synchronous work
    // they and what they call do, counted once per stack even when a function recurses.
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const walk = (node: ProfileNode, open: Set<string>): number => {
      let ms = (node.hitCount ?? 0) * interval;
      const { functionName, url, lineNumber } = node.callFrame;
      const area = areaOf(url, root);
      const own = area.startsWith('src/') || area.startsWith('adapters/') ? `${functionName || '(anonymous)'} ${area}:${lineNumber + 1}` : undefined;
      const inner = own && !open.has(own) ? new Set([...open, own]) : open;
      for (const child of node.children ?? []) ms += walk(byId.get(child)!, inner);
      if (own && !open.has(own)) inclusive.set(own, (inclusive.get(own) ?? 0) + ms);
      return ms;
    };
    if (profile.nodes[0]) walk(profile.nodes[0], new Set());
    for (const node of profile.nodes) {
      const ms = (node.hitCount ?? 0) * interval;
      if (ms === 0) continue;
      const { functionName, url, lineNumber } = node.callFrame;
      const area = areaOf(url, root);
      if (functionName === '(idle)' || functionName === '(program)') continue;
      total += ms;
      const where = url ? `${area}${area.startsWith('pkg:') || area.startsWith('node:') ? `:${url.split('/').pop()}` : ''}:${lineNumber + 1}` : '';
      const key = `${functionName || '(anonymous)'} ${where}`.trim();
      byFunction.set(key, (byFunction.get(key) ?? 0) + ms);
      byArea.set(area, (byArea.get(area) ?? 0) + ms);
    }
  }
  return [
    `busy CPU ${total.toFixed(0)} ms over ${files.length} profile(s) in ${dir}`,
    'self time by area:',
    ...top(byArea, total, 12),
    'self time by function:',
    ...top(byFunction, total, count),
    'inclusive time of src/ and adapters/ functions (synchronous part):',
    ...top(inclusive, total, 12),
  ];
}
