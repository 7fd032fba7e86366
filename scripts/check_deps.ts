/**
 * The dependency-direction check of `deno task lint`: imports in `lib/` only
 * run down the tiers (core, then drivers, then app, then `mod.ts`/`cli.ts`),
 * and no module imports itself through a cycle.
 *
 * Run: `deno run --allow-read scripts/check_deps.ts`. Exit code 1 lists every
 * offending import and every cycle.
 *
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";

/**
 * Tiers by path prefix (longest prefix wins). An import may go to the same
 * rank or lower, never higher.
 */
const _RANKS: [prefix: string, rank: number][] = [
  ["lib/core/", 0.1], // types, keys, snapshot names, zone, formatting
  ["lib/core/policy/", 0.2],
  ["lib/core/plan/", 0.3],
  ["lib/drivers/", 1.0], // btrfs, remote, pipe: independent of each other
  ["lib/drivers/transfer/", 1.1], // moves bytes between pipe and remote
  ["lib/app/", 2.1], // output, inventory, world, lock, remotes
  ["lib/app/config/", 2.0],
  ["lib/app/commands/", 2.2],
  ["lib/app/cli/", 2.3],
  ["mod.ts", 3],
  ["cli.ts", 3],
];

function _rank(file: string): number | null {
  let best: [string, number] | null = null;
  for (const [prefix, rank] of _RANKS) {
    if (file.startsWith(prefix) && (!best || prefix.length > best[0].length)) {
      best = [prefix, rank];
    }
  }
  return best ? best[1] : null;
}

function _stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** Relative imports of a module: static, `export ... from` and dynamic. */
export function importsOf(src: string): string[] {
  const out: string[] = [];
  const re =
    /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g;
  for (const m of _stripComments(src).matchAll(re)) out.push(m[1]);
  return out;
}

function _walk(dir: string, into: string[]): void {
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) _walk(p, into);
    else if (e.name.endsWith(".ts")) into.push(p);
  }
}

/** Problems in the tree at `root`: tier violations and cycles. */
export function checkDependencies(root: string): string[] {
  const files: string[] = ["mod.ts", "cli.ts"];
  _walk(join(root, "lib"), files);
  const rel = (p: string) => relative(root, resolve(root, p));
  const edges = new Map<string, string[]>();
  const problems: string[] = [];
  for (const f of files.map(rel)) {
    const targets = importsOf(Deno.readTextFileSync(join(root, f)))
      .map((s) => rel(join(dirname(f), s)));
    edges.set(f, targets);
    const from = _rank(f);
    for (const t of targets) {
      const to = _rank(t);
      if (from !== null && to !== null && to > from) {
        problems.push(
          `${f} imports ${t}: a lower tier may not import a higher one`,
        );
      }
    }
  }
  // Cycles: depth-first search with an on-stack set.
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const seen = new Set<string>();
  const visit = (f: string) => {
    state.set(f, "open");
    stack.push(f);
    for (const t of edges.get(f) ?? []) {
      if (!edges.has(t)) continue;
      if (state.get(t) === "open") {
        const cycle = [...stack.slice(stack.indexOf(t)), t].join(" -> ");
        if (!seen.has(cycle)) problems.push(`import cycle: ${cycle}`);
        seen.add(cycle);
      } else if (!state.has(t)) visit(t);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of edges.keys()) if (!state.has(f)) visit(f);
  return problems;
}

if (import.meta.main) {
  const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
  const problems = checkDependencies(root);
  for (const p of problems) console.error(`check_deps: ${p}`);
  if (problems.length) Deno.exit(1);
  console.error("check_deps: imports run down the tiers, no cycles");
}
