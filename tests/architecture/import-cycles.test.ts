// No import cycles in server/, db/ and client/: a module in a cycle can run before the module it
// imports has finished evaluating (a `const` read in its temporal dead zone, a class undefined at
// `extends`), and a cycle means two concerns that belong apart or together.
//
// Every import counts, type-only ones too (`import type`, `export type … from`, `import("…")`):
// the cycles issue #15 names (guard/framing <-> guard/rules, tools/registry <-> the tools,
// auth/admission <-> trpc) were all closed by a type import, which is erased at run time yet
// still ties the two modules together. Imports are read with TypeScript's own scanner
// (`preProcessFile`, from the client workspace's typescript), so comments and strings that look
// like imports are not.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const SOURCE_DIRS = ["server", "db", "client"];

interface Scanner {
  preProcessFile(
    text: string,
    readImportFiles: boolean,
    detectJavaScriptImports: boolean,
  ): {
    importedFiles: ReadonlyArray<{ fileName: string }>;
  };
}
const ts = createRequire(join(ROOT, "client/package.json"))("typescript") as Scanner;

/** Cycles tolerated for now, each with who removes it; a gone one must leave the list. None today. */
const KNOWN_CYCLES: ReadonlyArray<{ cycle: string; owner: string }> = [];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === "node_modules" || entry.name === "dist" ? [] : sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** The project file a relative specifier names (`./x.ts`, or `./x.js` for its `.ts` source). */
function resolveLocal(from: string, specifier: string): string | null {
  if (!specifier.startsWith(".")) return null;
  const base = join(dirname(from), specifier);
  for (const candidate of [base, base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")]) {
    if (candidate.endsWith(".ts") && existsSync(join(ROOT, candidate))) return candidate;
  }
  throw new Error(`${from}: cannot resolve ${specifier}`);
}

function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of SOURCE_DIRS.flatMap(sourceFiles)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), "utf8"), true, true);
    const local = importedFiles.map((i) => resolveLocal(file, i.fileName)).filter((p) => p !== null);
    graph.set(relative(".", file), [...new Set(local)]);
  }
  return graph;
}

/** Strongly connected components with more than one module (or a self-import): Tarjan's. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node) ?? 0);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(next) ?? 0));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    for (let member = stack.pop(); member !== undefined; member = stack.pop()) {
      onStack.delete(member);
      component.push(member);
      if (member === node) break;
    }
    if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component);
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return found;
}

/** One path around the component, `a -> b -> … -> a`, so the message names the imports to cut. */
function describeCycle(component: string[], graph: Map<string, string[]>): string {
  const members = new Set(component);
  const start = [...component].sort()[0] ?? "";
  const previous = new Map<string, string>();
  const queue = [start];
  for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const path = [start];
        for (let at: string | undefined = node; at !== undefined && at !== start; at = previous.get(at)) {
          path.splice(1, 0, at);
        }
        const others = component.filter((member) => !path.includes(member)).sort();
        return [...path, start].join(" -> ") + (others.length > 0 ? ` (also: ${others.join(", ")})` : "");
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return component.join(", ");
}

describe("imports", () => {
  it("form no cycle in server/, db/ or client/", () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(100);
    const known = new Set(KNOWN_CYCLES.map((k) => k.cycle));
    const found = cycles(graph).map((component) => describeCycle(component, graph));
    expect(found.filter((cycle) => !known.has(cycle))).toEqual([]);
    // A known cycle that is gone must leave the list, or it could come back unnoticed.
    expect(KNOWN_CYCLES.filter((k) => !found.includes(k.cycle))).toEqual([]);
  });

  it("are checked by a finder that names each cycle and leaves chains alone", () => {
    const graph = new Map([
      ["a.ts", ["b.ts", "e.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts", "f.ts"]],
      ["d.ts", ["d.ts"]],
      ["e.ts", ["b.ts"]],
      ["f.ts", []],
    ]);
    const found = cycles(graph).map((component) => describeCycle(component, graph));
    expect(found.sort()).toEqual(["a.ts -> b.ts -> c.ts -> a.ts (also: e.ts)", "d.ts -> d.ts"]);
  });
});
