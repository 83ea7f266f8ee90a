// Throughput of the guard on plain-text documents (one core): MB/s at 1 MB and 10 MB and the
// linearity ratio, on two corpora. Run alone with `npx tsx bench/guard-eval/speed.ts`; run.ts records it.
// Time is the process's CPU time (user + system) of the best run, which a busy machine does not
// inflate the way it inflates wall time; the best wall time is reported next to it.

import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { detectInjection } from "../../server/guard/detect.ts";
import { DATA_DIR } from "./data.ts";

export interface SpeedSample {
  bytes: number;
  /** Best CPU time of one call, in ms. */
  cpuMs: number;
  /** Best wall time of one call, in ms. */
  wallMs: number;
  /** Throughput from the CPU time. */
  mbPerSec: number;
}

export interface CorpusSpeed {
  corpus: string;
  oneMB: SpeedSample;
  tenMB: SpeedSample;
  /** CPU time for 10× the input divided by CPU time for 1× (target ≤ 12). */
  linearityRatio: number;
}

export interface PromptCost {
  corpus: string;
  prompts: number;
  /** CPU microseconds per 2 KB prompt (best of 3 passes over all of them). */
  microsPerPrompt: number;
}

export interface SpeedResult {
  machine: { cpu: string; cores: number; node: string; loadAverageAtStart: number[] };
  corpora: CorpusSpeed[];
  /** The per-request cost: whole 2 KB prompts, read whole (`kind: prompt`). */
  prompts: PromptCost[];
}

function texts(file: string, filter: (category: string) => boolean = () => true): string {
  return readFileSync(join(DATA_DIR, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { text: string; category: string })
    .filter((r) => filter(r.category))
    .map((r) => r.text)
    .join("\n\n");
}

/** The given text repeated to the size asked. */
function repeatTo(seed: string, bytes: number): string {
  let text = "";
  while (text.length < bytes) text += `${seed}\n\n`;
  return text.slice(0, bytes);
}

function measure(text: string, runs: number): SpeedSample {
  let cpu = Number.POSITIVE_INFINITY;
  let wall = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    detectInjection(text, { kind: "document" });
    wall = Math.min(wall, performance.now() - t0);
    const used = process.cpuUsage(c0);
    cpu = Math.min(cpu, (used.user + used.system) / 1000);
  }
  const bytes = Buffer.byteLength(text);
  return { bytes, cpuMs: cpu, wallMs: wall, mbPerSec: bytes / 1e6 / (cpu / 1000) };
}

function corpusSpeed(corpus: string, seed: string): CorpusSpeed {
  const small = repeatTo(seed, 1_000_000);
  const large = repeatTo(seed, 10_000_000);
  // Warm-up so the JIT has compiled every path before the clock starts.
  for (let i = 0; i < 5; i++) detectInjection(small, { kind: "document" });
  const oneMB = measure(small, 15);
  const tenMB = measure(large, 5);
  return { corpus, oneMB, tenMB, linearityRatio: tenMB.cpuMs / oneMB.cpuMs };
}

/** Consecutive 2,048-character pieces of a corpus: prompts as long as the guard's whole-text limit. */
export function twoKbPieces(corpus: string, max = 400): string[] {
  const pieces: string[] = [];
  for (let at = 0; at + 2048 <= corpus.length && pieces.length < max; at += 2048)
    pieces.push(corpus.slice(at, at + 2048));
  return pieces;
}

/**
 * CPU microseconds per call of `f` over the pieces, best of three passes after five warm-up passes
 * (a server runs the guard hot; fewer passes measure the JIT tiering up instead).
 */
export function microsPerCall(pieces: string[], f: (text: string) => unknown): number {
  for (let pass = 0; pass < 5; pass++) for (const p of pieces) f(p);
  let best = Number.POSITIVE_INFINITY;
  for (let pass = 0; pass < 3; pass++) {
    const c0 = process.cpuUsage();
    for (const p of pieces) f(p);
    const used = process.cpuUsage(c0);
    best = Math.min(best, (used.user + used.system) / pieces.length);
  }
  return best;
}

function promptCost(corpus: string, text: string): PromptCost {
  const pieces = twoKbPieces(text);
  return {
    corpus,
    prompts: pieces.length,
    microsPerPrompt: microsPerCall(pieces, (p) => detectInjection(p, { kind: "prompt" })),
  };
}

export function measureSpeed(): SpeedResult {
  const machine = {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    node: process.version,
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
  return {
    machine,
    corpora: [
      corpusSpeed(
        "clean documents of the dev set (emails, tables, code, WHOIS)",
        texts("documents_clean.jsonl"),
      ),
      corpusSpeed(
        "benign prompts of the dev set (prose, questions, long-context passages)",
        texts("benign.jsonl", (c) => !c.startsWith("notinject")),
      ),
    ],
    prompts: [
      promptCost("benign prompts of the dev set", texts("benign.jsonl")),
      promptCost("attacks of the dev set (jailbreak templates, cue-dense)", texts("injections.jsonl")),
    ],
  };
}

export function speedLines(r: SpeedResult): string[] {
  const sample = (s: SpeedSample) =>
    `${(s.bytes / 1e6).toFixed(0)} MB: ${s.cpuMs.toFixed(1)} ms CPU → **${s.mbPerSec.toFixed(1)} MB/s** (best wall ${s.wallMs.toFixed(1)} ms)`;
  const lines = [
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, load average at start ${r.machine.loadAverageAtStart.join(" / ")}.`,
    "",
  ];
  for (const c of r.corpora) {
    lines.push(
      `- ${c.corpus}:`,
      `  - ${sample(c.oneMB)}`,
      `  - ${sample(c.tenMB)}`,
      `  - linearity (CPU time for 10× the input / for 1×): ${c.linearityRatio.toFixed(2)} (target ≤ 12)`,
    );
  }
  lines.push("", "Per request (whole 2 KB prompts, `kind: prompt`, CPU time):", "");
  for (const p of r.prompts) {
    lines.push(
      `- ${p.corpus}: **${p.microsPerPrompt.toFixed(0)} µs** per 2 KB prompt (${p.prompts} prompts)`,
    );
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(speedLines(measureSpeed()).join("\n"));
}
