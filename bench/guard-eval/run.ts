// Evaluates the prompt guard on ../shared/data/prompt-guard-dev: per-family recall, false
// positives, grouped-CV thresholds and throughput; writes results.json and results.md here.

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_THRESHOLDS,
  type Detection,
  detectInjection,
  type GuardThresholds,
} from "../../server/guard/detect.ts";

interface Row {
  id: string;
  text: string;
  source: string;
  category: string;
}

interface Scored extends Row {
  set: "attack" | "benign" | "hard_negative" | "clean_document" | "injected_document";
  family: string;
  detection: Detection;
}

const here = dirname(fileURLToPath(import.meta.url));
const dataDir = join(here, "../../../shared/data/prompt-guard-dev");

function load(file: string): Row[] {
  return readFileSync(join(dataDir, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Row);
}

/** 95% Wilson score interval for k successes out of n. */
export function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const z = 1.959964;
  const p = k / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

interface Rate {
  k: number;
  n: number;
  rate: number;
  ci: [number, number];
}

function rate(k: number, n: number): Rate {
  return { k, n, rate: n === 0 ? 0 : k / n, ci: wilson(k, n) };
}

function fmt(r: Rate): string {
  return `${(r.rate * 100).toFixed(1)}% (${r.k}/${r.n}, 95% CI ${(r.ci[0] * 100).toFixed(1)}–${(r.ci[1] * 100).toFixed(1)}%)`;
}

const attacks = load("injections.jsonl");
const benign = load("benign.jsonl");
const clean = load("documents_clean.jsonl");
const injected = load("documents_with_injections.jsonl");

const familyCounts = new Map<string, number>();
for (const r of attacks) {
  const f = r.category.split(":")[0] ?? r.category;
  familyCounts.set(f, (familyCounts.get(f) ?? 0) + 1);
}
const familyOf = (r: Row) => {
  const f = r.category.split(":")[0] ?? r.category;
  return (familyCounts.get(f) ?? 0) < 10 ? "other" : f;
};

const scored: Scored[] = [];
const add = (rows: Row[], set: Scored["set"], kind: "prompt" | "document") => {
  for (const r of rows) {
    const family = set === "attack" ? familyOf(r) : (r.category.split(":")[0] ?? r.category);
    scored.push({ ...r, set, family, detection: detectInjection(r.text, { kind }) });
  }
};
add(attacks, "attack", "prompt");
add(
  benign.filter((r) => !r.category.startsWith("notinject")),
  "benign",
  "prompt",
);
add(
  benign.filter((r) => r.category.startsWith("notinject")),
  "hard_negative",
  "prompt",
);
add(clean, "clean_document", "document");
add(injected, "injected_document", "document");

const positive = (s: Scored, t: GuardThresholds) => s.detection.score >= t.flag;

interface Summary {
  families: Record<string, Rate>;
  macroRecall: number;
  benignFp: Rate;
  hardNegativeFp: Rate;
  cleanDocumentFp: Rate;
  injectedDocumentRecall: Rate;
  blockOnly: { macroRecall: number; benignFp: Rate; hardNegativeFp: Rate; cleanDocumentFp: Rate };
}

function summarize(rows: Scored[], t: GuardThresholds): Summary {
  const bySet = (set: Scored["set"]) => rows.filter((r) => r.set === set);
  const count = (rs: Scored[], th: number) => rs.filter((r) => r.detection.score >= th).length;
  const families: Record<string, Rate> = {};
  const blockFamilies: number[] = [];
  for (const f of [...new Set(bySet("attack").map((r) => r.family))].sort()) {
    const rs = bySet("attack").filter((r) => r.family === f);
    families[f] = rate(rs.filter((r) => positive(r, t)).length, rs.length);
    blockFamilies.push(count(rs, t.block) / rs.length);
  }
  const recalls = Object.values(families).map((r) => r.rate);
  const mk = (set: Scored["set"], th: number) => rate(count(bySet(set), th), bySet(set).length);
  return {
    families,
    macroRecall: recalls.reduce((a, b) => a + b, 0) / Math.max(1, recalls.length),
    benignFp: mk("benign", t.flag),
    hardNegativeFp: mk("hard_negative", t.flag),
    cleanDocumentFp: mk("clean_document", t.flag),
    injectedDocumentRecall: mk("injected_document", t.flag),
    blockOnly: {
      macroRecall: blockFamilies.reduce((a, b) => a + b, 0) / Math.max(1, blockFamilies.length),
      benignFp: mk("benign", t.block),
      hardNegativeFp: mk("hard_negative", t.block),
      cleanDocumentFp: mk("clean_document", t.block),
    },
  };
}

// Grouped 5-fold CV of the one tuned quantity, the flag threshold: sources are dealt to folds
// (largest first, into the lightest fold) so no source is on both sides of a split.
function groupedFolds(rows: Scored[], k: number): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const r of rows) sizes.set(r.source, (sizes.get(r.source) ?? 0) + 1);
  const load = new Array<number>(k).fill(0);
  const fold = new Map<string, number>();
  for (const [source, size] of [...sizes.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    const lightest = load.indexOf(Math.min(...load));
    fold.set(source, lightest);
    load[lightest] = (load[lightest] ?? 0) + size;
  }
  return fold;
}

function chooseFlagThreshold(train: Scored[]): number {
  let best = { t: DEFAULT_THRESHOLDS.flag, macro: -1 };
  for (let t = 0.3; t <= 0.8001; t += 0.05) {
    const th = { flag: t, block: Math.max(t, DEFAULT_THRESHOLDS.block) };
    const s = summarize(train, th);
    const ok = s.benignFp.rate <= 0.03 && s.hardNegativeFp.rate <= 0.05 && s.cleanDocumentFp.rate <= 0.05;
    if (ok && s.macroRecall > best.macro) best = { t: Math.round(t * 100) / 100, macro: s.macroRecall };
  }
  return best.t;
}

const folds = groupedFolds(scored, 5);
const oof: Scored[] = [];
const chosen: number[] = [];
for (let f = 0; f < 5; f++) {
  const train = scored.filter((r) => folds.get(r.source) !== f);
  const t = chooseFlagThreshold(train);
  chosen.push(t);
  // Out-of-fold: the held-out rows are judged with the threshold chosen without them.
  for (const r of scored.filter((x) => folds.get(x.source) === f)) {
    const d = r.detection;
    const verdict =
      d.score >= Math.max(t, DEFAULT_THRESHOLDS.block) ? "block" : d.score >= t ? "flag" : "allow";
    oof.push({ ...r, detection: { ...d, verdict } });
  }
}

function throughput(bytes: number): { mbPerSec: number; ms: number } {
  const docs = clean.map((r) => r.text).join("\n\n");
  let text = "";
  while (text.length < bytes) text += `${docs}\n\n`;
  text = text.slice(0, bytes);
  detectInjection(text.slice(0, 100000), { kind: "document" });
  const runs = 3;
  let bestMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    detectInjection(text, { kind: "document" });
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return { mbPerSec: Buffer.byteLength(text) / 1e6 / (bestMs / 1000), ms: bestMs };
}

const fixed = summarize(scored, DEFAULT_THRESHOLDS);
const cv = summarize(oof, { flag: 0, block: DEFAULT_THRESHOLDS.block });
// summarize() re-thresholds by score; for OOF rows use their fold's verdicts instead.
const oofPositive = (r: Scored) => r.detection.verdict !== "allow";
const oofRate = (set: Scored["set"]) => {
  const rs = oof.filter((r) => r.set === set);
  return rate(rs.filter(oofPositive).length, rs.length);
};
const oofFamilies: Record<string, Rate> = {};
for (const f of Object.keys(cv.families)) {
  const rs = oof.filter((r) => r.set === "attack" && r.family === f);
  oofFamilies[f] = rate(rs.filter(oofPositive).length, rs.length);
}
const oofSummary = {
  thresholdsChosen: chosen,
  families: oofFamilies,
  macroRecall: Object.values(oofFamilies).reduce((a, r) => a + r.rate, 0) / Object.keys(oofFamilies).length,
  benignFp: oofRate("benign"),
  hardNegativeFp: oofRate("hard_negative"),
  cleanDocumentFp: oofRate("clean_document"),
  injectedDocumentRecall: oofRate("injected_document"),
};

const small = throughput(1_000_000);
const large = throughput(10_000_000);
const speed = { oneMB: small, tenMB: large, linearityRatio: large.ms / small.ms };

const results = { thresholds: DEFAULT_THRESHOLDS, fixed, groupedCv: oofSummary, speed };
writeFileSync(join(here, "results.json"), `${JSON.stringify(results, null, 2)}\n`);

const lines: string[] = [
  "# Prompt guard evaluation",
  "",
  "Generated by `npx tsx bench/guard-eval/run.ts` on `../shared/data/prompt-guard-dev`.",
  "A row counts as caught (or as a false positive) when its verdict is `flag` or `block`.",
  "",
  `## Fixed default thresholds (flag ≥ ${DEFAULT_THRESHOLDS.flag}, block ≥ ${DEFAULT_THRESHOLDS.block})`,
  "",
  "| measure | value |",
  "| --- | --- |",
  ...Object.entries(fixed.families).map(([f, r]) => `| recall \`${f}\` | ${fmt(r)} |`),
  `| **macro recall** | **${(fixed.macroRecall * 100).toFixed(1)}%** |`,
  `| FP benign prompts | ${fmt(fixed.benignFp)} |`,
  `| FP hard negatives (notinject) | ${fmt(fixed.hardNegativeFp)} |`,
  `| FP clean documents | ${fmt(fixed.cleanDocumentFp)} |`,
  `| embedded-instruction documents caught | ${fmt(fixed.injectedDocumentRecall)} |`,
  `| block-only macro recall | ${(fixed.blockOnly.macroRecall * 100).toFixed(1)}% |`,
  `| block-only FP benign / hard neg / clean docs | ${fmt(fixed.blockOnly.benignFp)} / ${fmt(fixed.blockOnly.hardNegativeFp)} / ${fmt(fixed.blockOnly.cleanDocumentFp)} |`,
  "",
  "## Flag threshold chosen by 5-fold CV grouped by `source` (out-of-fold only)",
  "",
  `Thresholds chosen per fold: ${chosen.join(", ")}.`,
  "",
  "| measure | value |",
  "| --- | --- |",
  ...Object.entries(oofFamilies).map(([f, r]) => `| recall \`${f}\` | ${fmt(r)} |`),
  `| **macro recall** | **${(oofSummary.macroRecall * 100).toFixed(1)}%** |`,
  `| FP benign prompts | ${fmt(oofSummary.benignFp)} |`,
  `| FP hard negatives (notinject) | ${fmt(oofSummary.hardNegativeFp)} |`,
  `| FP clean documents | ${fmt(oofSummary.cleanDocumentFp)} |`,
  `| embedded-instruction documents caught | ${fmt(oofSummary.injectedDocumentRecall)} |`,
  "",
  "## Speed (plain-text documents, one core, `kind: document`)",
  "",
  `- 1 MB: ${small.ms.toFixed(1)} ms → ${small.mbPerSec.toFixed(1)} MB/s`,
  `- 10 MB: ${large.ms.toFixed(1)} ms → ${large.mbPerSec.toFixed(1)} MB/s`,
  `- linearity (time for 10× input / time for 1×): ${speed.linearityRatio.toFixed(2)}`,
  "",
];
writeFileSync(join(here, "results.md"), lines.join("\n"));
console.log(lines.join("\n"));

if (process.argv.includes("--misses")) {
  for (const r of scored) {
    const bad = (r.set === "attack" || r.set === "injected_document") !== positive(r, DEFAULT_THRESHOLDS);
    if (bad)
      console.log(
        r.set,
        r.family,
        r.detection.score,
        r.detection.flags.join(","),
        JSON.stringify(r.text.slice(0, 220)),
      );
  }
}
