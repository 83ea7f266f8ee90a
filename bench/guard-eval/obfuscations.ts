// Recall of the prompt guard on obfuscated attacks: every transform of obfuscate.ts applied to the
// plain (non-synthetic) attacks of both collections, against the plain attacks' recall; and the
// false-positive rate on benign prompts and hard negatives read with all views on (plain, and with the
// same transforms, which shows what an encoding wrapper alone costs). Writes results-obfuscations.{md,json}.
// Run: `npx tsx bench/guard-eval/obfuscations.ts`.

import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { detectInjection } from "../../server/guard/detect.ts";
import { type Collection, loadCollections, type PromptRow } from "./collections.ts";
import { wilson } from "./data.ts";
import { seededRng, TRANSFORMS, type Transform } from "./obfuscate.ts";
import { measureSpeed, speedLines } from "./speed.ts";

interface Rate {
  k: number;
  n: number;
  rate: number;
  ci: [number, number];
}

const SEED = 16;
// GCG-style suffixes are caught by their raw characters (case flips, symbol soup; suffix.ts), which
// every transform destroys, and an optimized suffix that is re-encoded is no longer the optimized attack.
const SUFFIX_FAMILIES = new Set(["jailbreak_gcg_adversarial_suffix", "adversarial_suffix"]);
const TARGET_DROP = 0.1;
const here = dirname(fileURLToPath(import.meta.url));

function rate(k: number, n: number): Rate {
  return { k, n, rate: n === 0 ? 0 : k / n, ci: wilson(k, n) };
}

// The generator is seeded per row and transform, so one row's obfuscation does not depend on the rows before it.
function rowSeed(id: string, transform: number): number {
  return createHash("sha1").update(`${SEED}:${transform}:${id}`).digest().readUInt32LE(0);
}

function caught(rows: readonly PromptRow[], transform?: Transform, index = -1): boolean[] {
  return rows.map((r) => {
    const text = transform ? transform.apply(r.text, seededRng(rowSeed(r.id, index))) : r.text;
    return detectInjection(text, { kind: "prompt" }).verdict !== "allow";
  });
}

const count = (xs: boolean[]) => xs.filter(Boolean).length;

interface TransformResult {
  recall: Rate;
  /** Recall minus the plain recall on the same rows. */
  delta: number;
  meetsTarget: boolean;
  /** Of the plain-caught attacks, the share still caught once obfuscated. */
  retained: Rate;
  /** The same, optimizer-suffix rows left out. */
  retainedWithoutSuffixes: Rate;
  /** Benign prompts and hard negatives flagged once put through the same transform. */
  benignFp: Rate;
  hardNegativeFp: Rate;
}

interface CollectionResult {
  attacks: number;
  plainRecall: Rate;
  benignFp: Rate;
  hardNegativeFp: Rate;
  transforms: Record<string, TransformResult>;
}

function evaluate(c: Collection): CollectionResult {
  const plain = caught(c.attacks);
  const suffix = c.attacks.map((r) => SUFFIX_FAMILIES.has(r.family));
  const plainRecall = rate(count(plain), plain.length);
  const benign = caught(c.benign);
  const hard = caught(c.hardNegatives);
  const transforms: Record<string, TransformResult> = {};
  TRANSFORMS.forEach((t, i) => {
    const hit = caught(c.attacks, t, i);
    const recall = rate(count(hit), hit.length);
    const delta = recall.rate - plainRecall.rate;
    transforms[t.name] = {
      recall,
      delta,
      meetsTarget: delta >= -TARGET_DROP,
      retained: rate(hit.filter((h, j) => h && plain[j]).length, count(plain)),
      retainedWithoutSuffixes: rate(
        hit.filter((h, j) => h && plain[j] && !suffix[j]).length,
        plain.filter((p, j) => p && !suffix[j]).length,
      ),
      benignFp: rate(count(caught(c.benign, t, i)), c.benign.length),
      hardNegativeFp: rate(count(caught(c.hardNegatives, t, i)), c.hardNegatives.length),
    };
  });
  return {
    attacks: c.attacks.length,
    plainRecall,
    benignFp: rate(count(benign), benign.length),
    hardNegativeFp: rate(count(hard), hard.length),
    transforms,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const fmt = (r: Rate) => `${pct(r.rate)} (${r.k}/${r.n}, ${pct(r.ci[0])}–${pct(r.ci[1])})`;

// The same benchmark run on the guard before this branch's views (commit 413b6b7), kept for comparison.
const BEFORE = join(here, "results-obfuscations-before.json");
const before = existsSync(BEFORE)
  ? (JSON.parse(readFileSync(BEFORE, "utf8")) as { results: Record<string, CollectionResult> }).results
  : {};
const beforeRecall = (collection: string, transform: string) => {
  const r = before[collection]?.transforms[transform]?.recall;
  return r ? fmt(r) : "—";
};

const collections = loadCollections();
const results: Record<string, CollectionResult> = {};
for (const c of collections) results[c.name] = evaluate(c);

// With every view on, the plain-text speed target (≥ 50 MB/s, linear) must still hold.
const speed = measureSpeed();

// Obfuscated input read whole (as a prompt) must stay linear too: CPU time for 10× the text over 1×.
function cpuMs(text: string): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const c0 = process.cpuUsage();
    detectInjection(text, { kind: "prompt" });
    const used = process.cpuUsage(c0);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}
const benignText = collections.flatMap((c) => c.benign.map((r) => r.text)).join("\n\n");
const linearity: Record<string, { ms100k: number; ms1m: number; ratio: number }> = {};
TRANSFORMS.forEach((t, i) => {
  const whole = t.apply(benignText, seededRng(rowSeed("linearity", i)));
  const [small, large] = [whole.slice(0, 100_000), whole.slice(0, 1_000_000)];
  const ms100k = cpuMs(small);
  const ms1m = cpuMs(large);
  linearity[t.name] = { ms100k, ms1m, ratio: ms1m / ms100k };
});

writeFileSync(
  join(here, "results-obfuscations.json"),
  `${JSON.stringify({ seed: SEED, targetDrop: TARGET_DROP, results, speed, linearity }, null, 2)}\n`,
);

const lines = [
  "# Prompt guard on obfuscated attacks",
  "",
  "Generated by `npx tsx bench/guard-eval/obfuscations.ts` (do not edit by hand). Each transform of",
  "`bench/guard-eval/obfuscate.ts` is applied to every plain attack of a collection (prompt-guard-dev:",
  "all 308 injections; prompt-guard-extra: the 969 attacks not marked `synthetic`), seeded per row",
  `(seed ${SEED}). A row counts as caught (or as a false positive) when its verdict is \`flag\` or \`block\`.`,
  "Intervals are 95% Wilson score intervals. Target: each transform's recall ≥ plain recall − 0.10.",
  "",
  "The dev attacks are the rows the rules were written from, so their plain recall is optimistic; extra's",
  "is low because its attacks were not. What this file measures is the *difference* an obfuscation makes:",
  'the Δ column (the target), and "plain-caught still caught", which does not depend on the plain level.',
  "",
];
for (const [name, r] of Object.entries(results)) {
  lines.push(
    `## ${name}`,
    "",
    `Plain attacks: recall ${fmt(r.plainRecall)}. With every view on: FP benign ${fmt(r.benignFp)}, FP hard negatives ${fmt(r.hardNegativeFp)}.`,
    "",
    "| transform | recall (95% CI) | Δ vs plain | target | recall before this branch | plain-caught still caught | same, suffix rows left out | FP benign, transformed | FP hard negatives, transformed |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...Object.entries(r.transforms).map(
      ([t, x]) =>
        `| \`${t}\` | ${fmt(x.recall)} | ${x.delta >= 0 ? "+" : ""}${(x.delta * 100).toFixed(1)} pt | ${x.meetsTarget ? "met" : "**missed**"} | ${beforeRecall(name, t)} | ${fmt(x.retained)} | ${fmt(x.retainedWithoutSuffixes)} | ${fmt(x.benignFp)} | ${fmt(x.hardNegativeFp)} |`,
    ),
    "",
  );
}
lines.push(
  '"Recall before this branch" is the same script on the guard without the reversed and unscrambled',
  "views, separator-aware letter joining and dense-leetspeak folding (`results-obfuscations-before.json`).",
  "Nearly all plain-caught attacks that an obfuscation loses are GCG-style optimizer suffixes",
  `(${[...SUFFIX_FAMILIES].map((f) => `\`${f}\``).join(", ")}): the suffix detector reads their raw characters`,
  "(case flips, symbol soup), which each transform destroys, and a suffix re-encoded is no longer the",
  'optimized token sequence that made it work. The "suffix rows left out" column shows the rest.',
  "",
  "The transformed-benign columns are benign prompts put through the same transform: informational, not",
  "false-positive targets. A benign prompt sent encoded or reversed is flagged about 5% of the time on dev",
  "because text that had to be hidden gets a bonus (`hidden_*` flags) on top of weak cues that alone stay",
  "below the threshold; the decode-request wrappers alone add nothing (`_request` rows equal the bare ones).",
  "",
);
lines.push(
  "## Speed with every view on (plain-text documents, one core, `kind: document`)",
  "",
  "`bench/guard-eval/speed.ts`, run by this script. Time is CPU time, which a loaded machine inflates less",
  "than wall time but still inflates; compare with a run of the guard without these views on the same load.",
  "",
  ...speedLines(speed),
  "",
  "Obfuscated benign text read whole as one prompt (every view built over all of it), first 100 KB and",
  "first 1 MB of each transform of the benign prompts: CPU time of the best of three calls.",
  "",
  "| transform | 100 KB | 1 MB | ratio (linear ≈ 10) |",
  "| --- | --- | --- | --- |",
  ...Object.entries(linearity).map(
    ([t, x]) => `| \`${t}\` | ${x.ms100k.toFixed(1)} ms | ${x.ms1m.toFixed(1)} ms | ${x.ratio.toFixed(1)} |`,
  ),
  "",
);
writeFileSync(join(here, "results-obfuscations.md"), lines.join("\n"));
console.log(lines.join("\n"));
