// Evaluates the prompt guard: the issue-16 targets, the cross-source headline (cross.ts), then
// dev-set detail (per-family recall, false positives, grouped-CV checks, the statistical-model
// experiment) and throughput; writes results.json and results.md.

import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_THRESHOLDS, detectInjection } from "../../server/guard/detect.ts";
import { crossLines, crossSource } from "./cross.ts";
import { type EvalRow, type EvalSet, groupedFolds, loadRows } from "./data.ts";
import { caughtAtShippedLevels, levelsOutOfFold } from "./levels-cv.ts";
import { evidenceFor, type ModelVariant, outOfFold } from "./model/cv.ts";
import { measureSpeed, speedLines } from "./speed.ts";
import { fmt, pct, type Rate, type Summary, summarize as summarizeRows, table } from "./summary.ts";

const here = dirname(fileURLToPath(import.meta.url));
const rows = loadRows();
const summarize = (positive: (row: EvalRow, i: number) => boolean | undefined): Summary =>
  summarizeRows(rows, positive);

// The shipped guard: rules only, fixed default thresholds (nothing here is tuned per fold).
const detections = rows.map((r) => detectInjection(r.text, { kind: r.kind }));
const shipped = summarize((_, i) => (detections[i]?.verdict ?? "allow") !== "allow");
const blockOnly = summarize((_, i) => detections[i]?.verdict === "block");

// The statistical-model experiment: out-of-fold probabilities from grouped 5-fold CV.
const evidence = evidenceFor(rows);
const folds = groupedFolds(rows, 5);
const foldOf: Record<string, number> = Object.fromEntries(folds);
const experiments: Record<ModelVariant, { model: Summary; modelOrRules: Summary }> = {
  ngrams: { model: shipped, modelOrRules: shipped },
  dense: { model: shipped, modelOrRules: shipped },
};
for (const variant of ["ngrams", "dense"] as const) {
  const p = outOfFold(rows, evidence, variant);
  experiments[variant] = {
    model: summarize((_, i) => (p[i] === undefined ? undefined : (p[i] ?? 0) >= DEFAULT_THRESHOLDS.flag)),
    modelOrRules: summarize((_, i) =>
      p[i] === undefined
        ? undefined
        : Math.max(p[i] ?? 0, evidence[i]?.ruleScore ?? 0) >= DEFAULT_THRESHOLDS.flag,
    ),
  };
}

// The composite rules' count levels, chosen per fold on the other folds (out-of-fold only).
const levelsCv = levelsOutOfFold(rows, evidence);
const levelsSummary = summarize((_, i) => levelsCv.caught[i] ?? false);
const shippedLevels = caughtAtShippedLevels(rows, evidence);
const decompositionMismatches = rows.filter(
  (_, i) => shippedLevels[i] !== ((detections[i]?.verdict ?? "allow") !== "allow"),
).length;

// Which rule fires where: rows of each set on which a flag is raised (in a flagged or blocked row or not).
const SETS: EvalSet[] = ["attack", "benign", "hard_negative", "clean_document", "injected_document"];
const flagTable: Record<string, Record<EvalSet, number>> = {};
rows.forEach((r, i) => {
  for (const flag of detections[i]?.flags ?? []) {
    flagTable[flag] ??= { attack: 0, benign: 0, hard_negative: 0, clean_document: 0, injected_document: 0 };
    flagTable[flag][r.set]++;
  }
});
const setSizes = Object.fromEntries(SETS.map((set) => [set, rows.filter((r) => r.set === set).length]));

const speed = measureSpeed();
const cross = crossSource();

/** The issue-16 targets against the measured numbers. */
function targetLines(): string[] {
  const met = (ok: boolean) => (ok ? "met" : "**not met**");
  const below = (sum: Summary, bar: number) =>
    Object.entries(sum.families)
      .filter(([, r]) => r.rate < bar)
      .map(([f, r]) => `\`${f}\` ${pct(r.rate)}`)
      .join(", ") || "none";
  const atMost = (what: string, r: Rate, bar: number): [string, string, string, boolean] => [
    what,
    `≤ ${pct(bar)}`,
    fmt(r),
    r.rate <= bar,
  ];
  const atLeast = (what: string, r: Rate, bar: number): [string, string, string, boolean] => [
    what,
    `≥ ${pct(bar)}`,
    fmt(r),
    r.rate >= bar,
  ];
  const docSpeed = speed.corpora[0];
  const rows: Array<[string, string, string, boolean]> = [
    [
      "dev-written rules on extra: macro recall (non-synthetic)",
      "≥ 80%",
      `${pct(cross.devRulesOnExtra.macroRecall)}; families below 80%: ${below(cross.devRulesOnExtra, 0.8)}`,
      cross.devRulesOnExtra.macroRecall >= 0.8,
    ],
    [
      "shipped rules (extra-derived changes frozen) on dev: macro recall",
      "≥ 85%",
      `${pct(cross.shippedOnDev.macroRecall)}; families below 85%: ${below(cross.shippedOnDev, 0.85)}`,
      cross.shippedOnDev.macroRecall >= 0.85,
    ],
    atMost("FP on dev benign prompts", cross.shippedOnDev.benignFp, 0.02),
    atMost("FP on extra benign prompts", cross.shippedOnExtra.benignFp, 0.02),
    atMost("FP on extra hard negatives", cross.shippedOnExtra.hardNegativeFp, 0.03),
    atMost("FP on clean documents (dev; extra has none)", cross.shippedOnDev.cleanDocumentFp, 0.05),
    atLeast("embedded-instruction documents caught, dev", cross.shippedOnDev.injectedDocumentRecall, 0.7),
    atLeast("embedded-instruction documents caught, extra", cross.shippedOnExtra.injectedDocumentRecall, 0.7),
    [
      "speed on plain-text documents (dev clean documents, 1 MB / 10 MB, CPU time)",
      "≥ 50 MB/s, linear",
      docSpeed
        ? `${docSpeed.oneMB.mbPerSec.toFixed(1)} / ${docSpeed.tenMB.mbPerSec.toFixed(1)} MB/s, 10×/1× time ratio ${docSpeed.linearityRatio.toFixed(2)}`
        : "—",
      docSpeed !== undefined && docSpeed.tenMB.mbPerSec >= 50 && docSpeed.linearityRatio <= 12,
    ],
  ];
  return [
    "| target | bar | measured | |",
    "| --- | --- | --- | --- |",
    ...rows.map(([what, bar, value, ok]) => `| ${what} | ${bar} | ${value} | ${met(ok)} |`),
    "",
    `Per request: ${speed.prompts.map((p) => `${p.microsPerPrompt.toFixed(0)} µs per 2 KB prompt (${p.corpus})`).join("; ")}, whole guard, one core, CPU time.`,
    "The learned component is not shipped (section 7), so it adds nothing per request.",
  ];
}

const results = {
  thresholds: DEFAULT_THRESHOLDS,
  shipped,
  blockOnly,
  levelsCrossValidation: {
    protocol: "5-fold CV grouped by source; levels chosen on the training folds, applied out-of-fold",
    chosen: levelsCv.chosen,
    summary: levelsSummary,
    decompositionMismatches,
  },
  flagsBySet: { setSizes, flags: flagTable },
  modelExperiment: {
    protocol: "5-fold CV grouped by source, out-of-fold only",
    folds: foldOf,
    ...experiments,
  },
  speed,
  crossSource: cross,
};
writeFileSync(join(here, "results.json"), `${JSON.stringify(results, null, 2)}\n`);

const lines: string[] = [
  "# Prompt guard evaluation",
  "",
  "Generated by `npx tsx bench/guard-eval/run.ts` on `../shared/data/prompt-guard-dev` and",
  "`../shared/data/prompt-guard-extra` (do not edit by hand). A row counts as caught (or as a false",
  "positive) when its verdict is `flag` or `block`. Intervals are 95% Wilson score intervals.",
  "",
  "## Targets (issue 16)",
  "",
  ...targetLines(),
  "",
  ...crossLines(cross),
  "# Development-set detail (dev only, in-sample for the dev-written rules)",
  "",
  `## Shipped guard: rules, fixed default thresholds (flag ≥ ${DEFAULT_THRESHOLDS.flag}, block ≥ ${DEFAULT_THRESHOLDS.block})`,
  "",
  "The rules were written by people who read this data set (its misses included), so these are",
  "development-set numbers, optimistic for attacks and documents from other sources. No weight is fitted",
  "by a program; the two count levels of the composite prompt rules are checked under grouped CV below.",
  "The document rules (`addressed_to_model`, `code_insertion`, `embedded_request`, the output-format",
  "directive) were written after reading the missed injected documents, whose injections follow a few",
  "templates (BIPIA): expect a clearly lower catch rate on embedded instructions written differently.",
  "",
  ...table(shipped),
  "",
  "Block verdicts only:",
  "",
  ...table(blockOnly),
  "",
  "## Composite-rule levels under grouped cross-validation (out-of-fold)",
  "",
  "`persona_framing` flags a prompt from its number of distinct kinds of persona cue (shipped level 3)",
  "and `harmful_roleplay` from its role-play cue points (shipped level 4). Here each level is instead",
  "chosen per fold, on the four training folds (best macro recall with benign FP ≤ 3% and hard-negative",
  `FP ≤ 5%; grid: kinds 2–6, points 3–6), and applied to the held-out fold. Folds are grouped by`,
  "`source`: in-the-wild, PAIR and system-prompt-extraction rows each come from one source, so their fold's",
  "levels were chosen without seeing that family. Other rules are fixed and identical in every fold.",
  "",
  `Levels chosen per fold: ${levelsCv.chosen.map((c) => `fold ${c.fold}: kinds ${c.personaKinds}, points ${c.roleplayPoints}`).join("; ")}.`,
  `(Decomposition check: at the shipped levels it disagrees with the shipped verdict on ${decompositionMismatches} row(s).)`,
  "",
  ...table(levelsSummary),
  "",
  "## Which rule fires where",
  "",
  "Rows of each set on which each flag is raised (also below the flag threshold, when it is one of",
  "several weak cues); a row can raise several flags.",
  "",
  `| flag | attacks (${setSizes.attack}) | benign (${setSizes.benign}) | hard negatives (${setSizes.hard_negative}) | clean documents (${setSizes.clean_document}) | injected documents (${setSizes.injected_document}) |`,
  "| --- | --- | --- | --- | --- | --- |",
  ...Object.entries(flagTable)
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([flag, c]) => `| \`${flag}\` | ${SETS.map((set) => c[set]).join(" | ")} |`),
  "",
  "## Statistical model (evaluated, not shipped)",
  "",
  "Logistic regression (AdaGrad, L2, seeded) trained by `bench/guard-eval/model/` on prompt rows, with",
  "attack families weighted equally. Features: `ngrams` = hashed character 3–5-grams and word 1–2-grams",
  "of the folded view (2^15 buckets) + the rule hits + character statistics (a character-bigram",
  "surprise profile fitted on benign text of the training folds, case flips, symbol ratios); `dense` = the",
  "last two only. 5-fold CV grouped by `source` (a document and its injected twin share a group), every",
  "number below from out-of-fold scores, at the default flag threshold. Single-source families (PAIR,",
  "in-the-wild, system-prompt extraction) are judged by models that never saw that source.",
  "",
];
for (const variant of ["ngrams", "dense"] as const) {
  lines.push(`### \`${variant}\`: model alone`, "", ...table(experiments[variant].model, false), "");
  lines.push(
    `### \`${variant}\`: max(model, rules)`,
    "",
    ...table(experiments[variant].modelOrRules, false),
    "",
  );
}
lines.push(
  "Neither variant beats the rules alone on held-out sources at the false-positive limits, so none is",
  "shipped: the n-gram model learns its training sources (in-sample it separates them almost perfectly)",
  "and does not transfer to an unseen family; the dense model adds recall only by exceeding the",
  "benign or hard-negative false-positive budget.",
  "",
  "## Speed (plain-text documents, one core, `kind: document`)",
  "",
  "Documents longer than 2 KB are tokenized once and read only around cue combinations (windows.ts);",
  "the second corpus is a stress case, user requests read as one document, where most lines open with",
  "a request verb and so most text is read by the rules.",
  "",
  ...speedLines(speed),
  "",
);
writeFileSync(join(here, "results.md"), lines.join("\n"));
console.log(lines.join("\n"));
