// Profiles the pipeline target under load (`node --cpu-prof`) and summarizes where its CPU goes
// while the load is measured (warm-up and start-up samples are left out): the top functions by
// self time and the project files and packages by inclusive time, as a share of the busy samples
// and as ms per answered call. With --name, the summary is also written to
// bench/results/profile-<name>.md (the flame graph in a table a diff can follow).
// Usage: npx tsx bench/overhead/profile.ts [--name before] [--delay 50] [--connections 16]
//        [--seconds 10] [--warmup 8] [--keys 1] [--keep file.cpuprofile (for a flame graph viewer)]
//        (DATABASE_URL = Postgres, else PGlite)
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createScratchDatabase, dropDatabase } from "../../tests/helpers/database.ts";
import { cpuOf, runLoad, startTarget } from "./load.ts";

const { values } = parseArgs({
  options: {
    name: { type: "string" },
    delay: { type: "string", default: "50" },
    connections: { type: "string", default: "16" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "8" },
    keys: { type: "string", default: "1" },
    top: { type: "string", default: "30" },
    keep: { type: "string" },
  },
});

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
/** The `.cpuprofile` format: sample node ids and the µs between samples, from startTime. */
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The measured load on the profile's clock, in µs (V8 and hrtime share CLOCK_MONOTONIC), and its calls. */
interface Window {
  fromUs: number;
  toUs: number;
  calls: number;
}

interface Summary {
  /** Busy µs sampled in the window ((idle) excluded) and the calls answered in it. */
  busyUs: number;
  idleUs: number;
  calls: number;
  self: Array<[string, number]>;
  /** Per self-time entry, the project function it is most often reached from. */
  mainCaller: Map<string, string>;
  files: Array<[string, number]>;
  packages: Array<[string, number]>;
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A frame's place: project-relative file, a package name, a node: builtin, or a V8 pseudo frame. */
function placeOf(url: string): { file: string; pkg: string; builtin?: string } {
  if (url === "") return { file: "", pkg: "(V8/native)" };
  const path = url.startsWith("file://") ? fileURLToPath(url) : url;
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path);
  if (inModules?.[1]) return { file: "", pkg: inModules[1] };
  if (path.startsWith("node:")) return { file: "", pkg: "node (builtins)", builtin: path };
  if (path.startsWith(ROOT)) return { file: path.slice(ROOT.length), pkg: "" };
  return { file: "", pkg: path };
}

function summarize(profile: Profile, window: Window): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Self µs per node inside the window; a sample's time is the delta to the next sample.
  const self = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (at < window.fromUs || at >= window.toUs) return;
    self.set(id, (self.get(id) ?? 0) + us);
  });
  // tsx emits each project file on one line, so a project frame is named by function and file.
  const label = (n: ProfileNode) => {
    const { file, pkg, builtin } = placeOf(n.callFrame.url);
    const name = n.callFrame.functionName || "(anonymous)";
    if (file) return `${name} ${file}`;
    return n.callFrame.url ? `${name} ${builtin ?? pkg}:${n.callFrame.lineNumber + 1}` : `${name} ${pkg}`;
  };
  // The nearest project function on the stack: where a library or native frame was called from.
  const projectCaller = (id: number | undefined) => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur);
      if (frame && placeOf(frame.callFrame.url).file) return label(frame);
    }
    return "-";
  };
  let idleUs = 0;
  const selfBy = new Map<string, number>();
  const callers = new Map<string, Map<string, number>>();
  const files = new Map<string, number>();
  const packages = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    if (node.callFrame.functionName === "(idle)") {
      idleUs += us;
      continue;
    }
    const name = label(node);
    selfBy.set(name, (selfBy.get(name) ?? 0) + us);
    const from = callers.get(name) ?? new Map<string, number>();
    // A project function's own caller; a library or native frame's nearest project frame.
    const caller = projectCaller(placeOf(node.callFrame.url).file ? parent.get(id) : id);
    from.set(caller, (from.get(caller) ?? 0) + us);
    callers.set(name, from);
    // Inclusive: every file and package on the stack counted once per sample.
    const seenFiles = new Set<string>();
    const seenPackages = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur);
      if (!frame?.callFrame.url) continue;
      const { file, pkg } = placeOf(frame.callFrame.url);
      if (file) seenFiles.add(file);
      else seenPackages.add(pkg);
    }
    for (const f of seenFiles) files.set(f, (files.get(f) ?? 0) + us);
    for (const p of seenPackages) packages.set(p, (packages.get(p) ?? 0) + us);
  }
  const busyUs = [...selfBy.values()].reduce((a, b) => a + b, 0);
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    busyUs,
    idleUs,
    calls: window.calls,
    self: sorted(selfBy),
    mainCaller: new Map([...callers].map(([name, from]) => [name, sorted(from)[0]?.[0] ?? "-"])),
    files: sorted(files),
    packages: sorted(packages),
  };
}

function summaryMarkdown(s: Summary, top: number, heading: string[]): string {
  const pct = (us: number) => `${((100 * us) / Math.max(1, s.busyUs)).toFixed(1)}`;
  const perCall = (us: number) => (s.calls > 0 ? (us / 1000 / s.calls).toFixed(3) : "-");
  const cell = (text: string) => `\`${text.replaceAll("|", "\\|")}\``;
  const table = (title: string, rows: Array<[string, number]>, caller?: Map<string, string>) => [
    `| ${title} | % of busy samples | ms per call |${caller ? " mostly reached from |" : ""}`,
    `| --- | ---: | ---: |${caller ? " --- |" : ""}`,
    ...rows
      .slice(0, top)
      .map(
        ([name, us]) =>
          `| ${cell(name)} | ${pct(us)} | ${perCall(us)} |${caller ? ` ${cell(caller.get(name) ?? "-")} |` : ""}`,
      ),
    "",
  ];
  return [
    ...heading,
    "",
    `Sampled main-thread time in the measured window: ${(s.busyUs / 1e6).toFixed(2)} s busy, ${(s.idleUs / 1e6).toFixed(2)} s idle, ${s.calls} calls: ${perCall(s.busyUs)} ms busy per call (JavaScript, GC and native work on the main thread; the GC helper threads are not sampled).`,
    "",
    "## Top functions by self time",
    "",
    ...table("function, file", s.self, s.mainCaller),
    "## Project files by inclusive time",
    "",
    "A file counts once per sample when any of its functions is on the stack, so shares overlap (a caller includes its callees).",
    "",
    ...table("file", s.files),
    "## Packages by inclusive time",
    "",
    ...table("package", s.packages),
  ].join("\n");
}

async function main() {
  const top = Number(values.top);
  const connections = Number(values.connections);
  const keys = Number(values.keys);
  const dir = mkdtempSync(join(tmpdir(), "sg-prof-"));
  const baseUrl = process.env.DATABASE_URL;
  const scratch = baseUrl ? await createScratchDatabase(baseUrl) : null;
  const loadBefore = loadavg();
  try {
    const target = await startTarget(
      "pipeline",
      Number(values.delay),
      scratch,
      ["--cpu-prof", `--cpu-prof-dir=${dir}`],
      keys,
    );
    const pid = target.child.pid ?? 0;
    const load = { urls: [target.url], key: target.key, keys: target.keys, connections };
    await runLoad({ ...load, seconds: Number(values.warmup) });
    const cpuBefore = cpuOf(pid);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    const measured = await runLoad({ ...load, seconds: Number(values.seconds) });
    const toUs = Number(process.hrtime.bigint() / 1000n);
    const cpuAfter = cpuOf(pid);
    const loadAfter = loadavg();
    await target.stop();
    const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
    if (!file) throw new Error("no profile written");
    if (values.keep) copyFileSync(join(dir, file), values.keep);
    const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;
    if (fromUs < profile.startTime || toUs > profile.endTime)
      throw new Error("the measured window lies outside the profile's clock");
    const summary = summarize(profile, { fromUs, toUs, calls: measured.requests });
    const f = (n: number) => n.toFixed(2);
    const heading = [
      `# CPU profile of the pipeline${values.name ? `: ${values.name}` : ""}`,
      "",
      `Run ${new Date().toISOString()} on ${cpus()[0]?.model ?? "unknown"} x ${cpus().length}, Node ${process.version}; load average (1/5/15 min) ${loadBefore.map(f).join(" / ")} before, ${loadAfter.map(f).join(" / ")} after (the machine is shared: compare shares and per-call CPU, not rates).`,
      `Target: bench/overhead/target.ts --mode pipeline under \`node --cpu-prof\`, ${scratch ? "Postgres" : "PGlite"}, ${values.delay} ms model, concurrency ${connections}, ${keys} key(s), summarizeDoc of the 2 KB text; ${values.warmup} s warm-up, then ${values.seconds} s measured (only those samples are counted).`,
      `Load: ${measured.rps.toFixed(0)} rps, p50 ${f(measured.p50)} ms, p99 ${f(measured.p99)} ms, ${measured.non2xx} non-2xx. CPU per call from /proc (profiler on, which adds some): main thread ${f((cpuAfter.mainMs - cpuBefore.mainMs) / Math.max(1, measured.requests))} ms, all threads ${f((cpuAfter.processMs - cpuBefore.processMs) / Math.max(1, measured.requests))} ms.`,
    ];
    const markdown = summaryMarkdown(summary, top, heading);
    console.log(markdown);
    if (values.name)
      writeFileSync(new URL(`../results/profile-${values.name}.md`, import.meta.url), markdown);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (baseUrl && scratch) await dropDatabase(baseUrl, scratch);
  }
}

await main();
