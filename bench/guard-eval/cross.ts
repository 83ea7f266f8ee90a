// Cross-source validation, the guard's headline numbers: every number is measured on rows the
// measured part was not developed on. Rules written from prompt-guard-dev are scored on
// prompt-guard-extra (non-synthetic rows only) and the other way round; the learned model is trained
// on one collection and scored on the other, and left out one source repository at a time inside extra.

import type { RuleEvidence } from "../../server/guard/detect.ts";
import { DEFAULT_THRESHOLDS, detectInjection } from "../../server/guard/detect.ts";
import { type EvalRow, loadExtraRows, loadRows } from "./data.ts";
import { evidenceFor, fitModel, scoreRows } from "./model/cv.ts";
import { fmt, pct, type Rate, rate, type Summary, summarize, table } from "./summary.ts";

export interface SourceRow {
  repo: string;
  attacks: Rate;
  benign: Rate;
}

export interface CrossResult {
  rulesOnDev: Summary;
  rulesOnExtra: Summary;
  rulesBySource: SourceRow[];
  learned: {
    devToExtra: { model: Summary; modelOrRules: Summary };
    extraToDev: { model: Summary; modelOrRules: Summary };
    leaveOneSourceOut: { model: Summary; modelOrRules: Summary };
  };
}

const flagged = (score: number) => score >= DEFAULT_THRESHOLDS.flag;

function rulesVerdicts(rows: EvalRow[]): boolean[] {
  return rows.map((r) => detectInjection(r.text, { kind: r.kind }).verdict !== "allow");
}

function learnedSummaries(
  rows: EvalRow[],
  evidence: RuleEvidence[],
  p: (number | undefined)[],
): { model: Summary; modelOrRules: Summary } {
  return {
    model: summarize(rows, (_, i) => (p[i] === undefined ? undefined : flagged(p[i] ?? 0))),
    modelOrRules: summarize(rows, (_, i) =>
      p[i] === undefined ? undefined : flagged(Math.max(p[i] ?? 0, evidence[i]?.ruleScore ?? 0)),
    ),
  };
}

/** Trains on `train` (indices into all rows), returns the probability of each row in `test`. */
function trainAndScore(
  all: EvalRow[],
  evidence: RuleEvidence[],
  train: (r: EvalRow) => boolean,
  test: (r: EvalRow) => boolean,
): (number | undefined)[] {
  const idx = all.map((_, i) => i).filter((i) => train(all[i] as EvalRow));
  const model = fitModel(
    idx.map((i) => all[i] as EvalRow),
    idx.map((i) => evidence[i] as RuleEvidence),
    "ngrams",
  );
  return scoreRows(model, all, evidence, "ngrams", (i) => test(all[i] as EvalRow));
}

/**
 * The extra repositories whose rows were read while writing extra-derived rule changes. The others
 * were never read, so scored on them an extra-derived change is held out as well (leave-sources-out).
 */
export const READ_EXTRA_SOURCES: ReadonlySet<string> = new Set([
  "meta-llama/PurpleLlama",
  "mik0w/pallms",
  "swisskyrepo/PayloadsAllTheThings",
  "TakSec/Prompt-Injection-Everywhere",
  "cyberark/FuzzyAI",
]);

/** The rules alone on each collection: what the change log (changes.md) records per change. */
export function rulesOnly(): {
  all: EvalRow[];
  caught: boolean[];
  rulesOnDev: Summary;
  rulesOnExtra: Summary;
  rulesOnUnreadExtra: Summary;
} {
  const all = [...loadRows(), ...loadExtraRows()];
  const caught = rulesVerdicts(all);
  return {
    all,
    caught,
    rulesOnDev: summarize(all, (r, i) => (r.collection === "dev" ? caught[i] : undefined)),
    rulesOnExtra: summarize(all, (r, i) => (r.collection === "extra" ? caught[i] : undefined)),
    rulesOnUnreadExtra: summarize(all, (r, i) =>
      r.collection === "extra" && !READ_EXTRA_SOURCES.has(r.repo) ? caught[i] : undefined,
    ),
  };
}

export function crossSource(): CrossResult {
  const { all, caught, rulesOnDev, rulesOnExtra } = rulesOnly();
  const extra = all.filter((r) => r.collection === "extra");

  const repos = [...new Set(extra.map((r) => r.repo))].sort();
  const rulesBySource = repos.map((repo) => {
    const count = (label: 0 | 1) => {
      let k = 0;
      let n = 0;
      all.forEach((r, i) => {
        if (
          r.collection !== "extra" ||
          r.repo !== repo ||
          r.synthetic ||
          r.kind !== "prompt" ||
          r.label !== label
        )
          return;
        n++;
        if (caught[i]) k++;
      });
      return rate(k, n);
    };
    return { repo, attacks: count(1), benign: count(0) };
  });

  // The learned component: the rule hits are features too, so its evidence is the shipped rules'.
  const evidence = evidenceFor(all);
  const devToExtra = trainAndScore(
    all,
    evidence,
    (r) => r.collection === "dev",
    (r) => r.collection === "extra",
  );
  // Synthetic rows may train (they are never scored): their wrappers are written by the data's authors.
  const extraToDev = trainAndScore(
    all,
    evidence,
    (r) => r.collection === "extra",
    (r) => r.collection === "dev",
  );
  const loso = new Array<number | undefined>(all.length).fill(undefined);
  for (const repo of repos) {
    // Held out: the repository's rows, and the composed rows built from its texts (their hosts).
    const held = (r: EvalRow) => r.collection === "extra" && r.repo === repo;
    const p = trainAndScore(all, evidence, (r) => !held(r) && !(r.synthetic && hostFrom(r, repo)), held);
    p.forEach((x, i) => {
      if (x !== undefined) loso[i] = x;
    });
  }
  const onlyExtra = (p: (number | undefined)[]) =>
    p.map((x, i) => (all[i]?.collection === "extra" ? x : undefined));
  return {
    rulesOnDev,
    rulesOnExtra,
    rulesBySource,
    learned: {
      devToExtra: learnedSummaries(all, evidence, devToExtra),
      extraToDev: learnedSummaries(all, evidence, extraToDev),
      leaveOneSourceOut: learnedSummaries(all, evidence, onlyExtra(loso)),
    },
  };
}

/** Whether a composed row's host request came from `repo` (its `host_source` names the file). */
function hostFrom(row: EvalRow, repo: string): boolean {
  const host = (row as EvalRow & { host_source?: string }).host_source ?? "";
  return host.startsWith(repo);
}

export function crossLines(c: CrossResult): string[] {
  return [
    "## Headline: cross-source validation",
    "",
    "Two collections: `prompt-guard-dev` (dev) and `prompt-guard-extra` (extra, seven other public",
    "repositories). The 600 composed rows of extra (`synthetic: true`) are in no number below.",
    "The rules were written from dev (and from the issue text); `bench/guard-eval/changes.md` lists",
    "every rule change with the collection it was written from and its effect on the other one.",
    "",
    "### Rules written on dev, scored on extra (non-synthetic attacks)",
    "",
    ...table(c.rulesOnExtra),
    "",
    "extra has no clean documents; its hard negatives are security questions, application system",
    "prompts, defensive prompts and questions to an AI about oversight.",
    "",
    "### The same rules on dev (the collection they were written from: in-sample)",
    "",
    ...table(c.rulesOnDev),
    "",
    "### Rules by extra source repository",
    "",
    "No rule was written from extra, so each source is held out from the rules already.",
    "",
    "| source | attacks caught | benign flagged |",
    "| --- | --- | --- |",
    ...c.rulesBySource.map((s) => `| ${s.repo} | ${fmt(s.attacks)} | ${fmt(s.benign)} |`),
    "",
    "### Learned component (linear model over word and character n-grams plus the rule features)",
    "",
    "Logistic regression from `bench/guard-eval/model/` (the `ngrams` variant), flag at p ≥ 0.5.",
    "Each number from a model that never saw the scored collection or source; prompts only.",
    "",
    "#### Trained on dev, scored on extra: model alone",
    "",
    ...table(c.learned.devToExtra.model, false),
    "",
    "#### Trained on dev, scored on extra: max(model, rules)",
    "",
    ...table(c.learned.devToExtra.modelOrRules, false),
    "",
    "#### Trained on extra, scored on dev: model alone",
    "",
    ...table(c.learned.extraToDev.model, false),
    "",
    "#### Trained on extra, scored on dev: max(model, rules)",
    "",
    ...table(c.learned.extraToDev.modelOrRules, false),
    "",
    "#### Leave one source repository out inside extra (trained on dev + the other extra sources)",
    "",
    "Model alone:",
    "",
    ...table(c.learned.leaveOneSourceOut.model, false),
    "",
    "max(model, rules):",
    "",
    ...table(c.learned.leaveOneSourceOut.modelOrRules, false),
    "",
  ];
}

/** One line per measure, for comparing a rule change before and after (`--rules`). */
function compactLines(name: string, s: Summary): string[] {
  return [
    `${name}: macro recall ${pct(s.macroRecall)}; FP benign ${fmt(s.benignFp)}; FP hard negatives ${fmt(s.hardNegativeFp)}; FP clean documents ${fmt(s.cleanDocumentFp)}; documents caught ${fmt(s.injectedDocumentRecall)}`,
    ...Object.entries(s.families).map(([f, r]) => `  ${f}: ${r.k}/${r.n}`),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes("--rules")) {
    const r = rulesOnly();
    console.log(
      [
        ...compactLines("dev", r.rulesOnDev),
        ...compactLines("extra", r.rulesOnExtra),
        ...compactLines("extra, unread sources", r.rulesOnUnreadExtra),
      ].join("\n"),
    );
  } else {
    console.log(crossLines(crossSource()).join("\n"));
  }
}
