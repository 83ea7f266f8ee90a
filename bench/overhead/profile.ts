// Profiles the pipeline target under load (`node --cpu-prof`) and prints the top functions by
// self time and the project files by inclusive time, with file:line, to find hot spots.
// Usage: npx tsx bench/overhead/profile.ts [--delay 50] [--connections 16] [--seconds 10]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createScratchDatabase, dropDatabase } from "../../tests/helpers/database.ts";
import { runLoad, startTarget } from "./load.ts";

const { values } = parseArgs({
  options: {
    delay: { type: "string", default: "50" },
    connections: { type: "string", default: "16" },
    seconds: { type: "string", default: "10" },
    top: { type: "string", default: "30" },
  },
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const dir = mkdtempSync(join(tmpdir(), "sg-prof-"));
const baseUrl = process.env.DATABASE_URL;
const scratch = baseUrl ? await createScratchDatabase(baseUrl) : null;
try {
  const target = await startTarget("pipeline", Number(values.delay), scratch, [
    "--cpu-prof",
    `--cpu-prof-dir=${dir}`,
  ]);
  const connections = Number(values.connections);
  await runLoad({ urls: [target.url], key: target.key, connections, seconds: 3 });
  const load = await runLoad({
    urls: [target.url],
    key: target.key,
    connections,
    seconds: Number(values.seconds),
  });
  await target.stop();
  console.log(
    `load: ${load.rps.toFixed(0)} rps, p50 ${load.p50.toFixed(2)} ms, p99 ${load.p99.toFixed(2)} ms`,
  );
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error("no profile written");
  report(JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile, Number(values.top));
} finally {
  rmSync(dir, { recursive: true, force: true });
  if (baseUrl && scratch) await dropDatabase(baseUrl, scratch);
}

function report(profile: Profile, top: number) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const where = (n: ProfileNode) =>
    `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\/work\/main\//, "")}:${n.callFrame.lineNumber + 1}`;
  const selfBy = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (node) selfBy.set(where(node), (selfBy.get(where(node)) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)}%`;
  console.log(`\nself time (total ${(total / 1e6).toFixed(1)} s sampled):`);
  for (const [name, us] of [...selfBy].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(us)}  ${name}`);
  // Inclusive time per project function (server/, db/): a frame counted once per sample.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur);
      if (!node || !/\/work\/main\/(server|db)\//.test(node.callFrame.url)) continue;
      const name = where(node);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
  console.log("\ninclusive time, project code:");
  for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(us)}  ${name}`);
}
