// Cross-source validation, the guard's headline numbers: every number is measured on rows the
// measured part was not developed on. Rules written from prompt-guard-dev are scored on
// prompt-guard-extra (non-synthetic rows only) and the other way round; the learned model is trained
// on one collection and scored on the other, and left out one source repository at a time inside extra.

import type { RuleEvidence } from "../../server/guard/detect.ts";
import { DEFAULT_THRESHOLDS, detectInjection } from "../../server/guard/detect.ts";
import type { RuleSet } from "../../server/guard/rule-hit.ts";
import { type EvalRow, loadExtraRows, loadRows } from "./data.ts";
import { evidenceFor, fitModel, scoreRows } from "./model/cv.ts";
import { fmt, pct, type Rate, rate, type Summary, summarize, table } from "./summary.ts";

export interface SourceRow {
  repo: string;
  devRules: { attacks: Rate; benign: Rate };
  shipped: { attacks: Rate; benign: Rate };
}

export interface LearnedResult {
  model: Summary;
  modelOrRules: Summary;
}

export interface CrossResult {
  /** Headline 1: rules written from dev (rule set "dev"), scored on extra. */
  devRulesOnExtra: Summary;
  /** Headline 2: the shipped rules (extra-derived changes frozen), scored on dev. */
  shippedOnDev: Summary;
  /** In-sample or partly in-sample, for reference. */
  devRulesOnDev: Summary;
  shippedOnExtra: Summary;
  shippedOnUnreadExtra: Summary;
  rulesBySource: SourceRow[];
  /** Attacks the shipped rules miss on extra, by family: count and a few examples. */
  missesOnExtra: Record<string, { missed: number; of: number; examples: string[] }>;
  missesOnDev: Record<string, { missed: number; of: number; examples: string[] }>;
  learned: { devToExtra: LearnedResult; extraToDev: LearnedResult; leaveOneSourceOut: LearnedResult };
}

const flagged = (score: number) => score >= DEFAULT_THRESHOLDS.flag;

function rulesVerdicts(rows: EvalRow[], ruleSet: RuleSet): boolean[] {
  return rows.map((r) => detectInjection(r.text, { kind: r.kind, ruleSet }).verdict !== "allow");
}

function learnedSummaries(
  rows: EvalRow[],
  evidence: RuleEvidence[],
  p: (number | undefined)[],
): LearnedResult {
  return {
    model: summarize(rows, (_, i) => (p[i] === undefined ? undefined : flagged(p[i] ?? 0))),
    modelOrRules: summarize(rows, (_, i) =>
      p[i] === undefined ? undefined : flagged(Math.max(p[i] ?? 0, evidence[i]?.ruleScore ?? 0)),
    ),
  };
}

/** Trains on the rows `train` accepts; returns the probability of each row `test` accepts. */
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
  "0xeb/TheBigPromptLibrary",
]);

interface RulesResult {
  all: EvalRow[];
  /** Caught by the shipped rules ("all") and by the dev-written rules ("dev"). */
  shipped: boolean[];
  devOnly: boolean[];
  devRulesOnExtra: Summary;
  shippedOnDev: Summary;
  devRulesOnDev: Summary;
  shippedOnExtra: Summary;
  shippedOnUnreadExtra: Summary;
}

/** The rules alone, both rule sets on both collections: what changes.md records per change. */
export function rulesOnly(): RulesResult {
  const all = [...loadRows(), ...loadExtraRows()];
  const shipped = rulesVerdicts(all, "all");
  const devOnly = rulesVerdicts(all, "dev");
  const on = (caught: boolean[], keep: (r: EvalRow) => boolean) =>
    summarize(all, (r, i) => (keep(r) ? caught[i] : undefined));
  const dev = (r: EvalRow) => r.collection === "dev";
  const extra = (r: EvalRow) => r.collection === "extra";
  return {
    all,
    shipped,
    devOnly,
    devRulesOnExtra: on(devOnly, extra),
    shippedOnDev: on(shipped, dev),
    devRulesOnDev: on(devOnly, dev),
    shippedOnExtra: on(shipped, extra),
    shippedOnUnreadExtra: on(shipped, (r) => extra(r) && !READ_EXTRA_SOURCES.has(r.repo)),
  };
}

function sourceRate(all: EvalRow[], caught: boolean[], repo: string, label: 0 | 1): Rate {
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
}

function misses(all: EvalRow[], caught: boolean[], collection: EvalRow["collection"]) {
  const out: CrossResult["missesOnExtra"] = {};
  all.forEach((r, i) => {
    if (r.collection !== collection || r.set !== "attack" || r.synthetic) return;
    out[r.family] ??= { missed: 0, of: 0, examples: [] };
    const m = out[r.family] as { missed: number; of: number; examples: string[] };
    m.of++;
    if (caught[i]) return;
    m.missed++;
    if (m.examples.length < 3) m.examples.push(r.text.replace(/\s+/g, " ").slice(0, 140));
  });
  return out;
}

export function crossSource(): CrossResult {
  const rules = rulesOnly();
  const { all } = rules;
  const repos = [...new Set(all.filter((r) => r.collection === "extra").map((r) => r.repo))].sort();
  const rulesBySource = repos.map((repo) => ({
    repo,
    devRules: {
      attacks: sourceRate(all, rules.devOnly, repo, 1),
      benign: sourceRate(all, rules.devOnly, repo, 0),
    },
    shipped: {
      attacks: sourceRate(all, rules.shipped, repo, 1),
      benign: sourceRate(all, rules.shipped, repo, 0),
    },
  }));

  // The learned component has the rule hits as features, so a model scored on extra is given the
  // dev-written rules' evidence only; one scored on dev, the shipped rules' (dev never shaped them).
  const devEvidence = evidenceFor(all, "dev");
  const shippedEvidence = evidenceFor(all, "all");
  const devToExtra = trainAndScore(
    all,
    devEvidence,
    (r) => r.collection === "dev",
    (r) => r.collection === "extra",
  );
  // Synthetic rows may train (they are never scored): their wrappers are written by the data's authors.
  const extraToDev = trainAndScore(
    all,
    shippedEvidence,
    (r) => r.collection === "extra",
    (r) => r.collection === "dev",
  );
  const loso = new Array<number | undefined>(all.length).fill(undefined);
  for (const repo of repos) {
    // Held out: the repository's rows, and the composed rows built from its texts (their hosts).
    const held = (r: EvalRow) => r.collection === "extra" && r.repo === repo;
    const p = trainAndScore(all, devEvidence, (r) => !held(r) && !(r.synthetic && hostFrom(r, repo)), held);
    p.forEach((x, i) => {
      if (x !== undefined) loso[i] = x;
    });
  }
  return {
    devRulesOnExtra: rules.devRulesOnExtra,
    shippedOnDev: rules.shippedOnDev,
    devRulesOnDev: rules.devRulesOnDev,
    shippedOnExtra: rules.shippedOnExtra,
    shippedOnUnreadExtra: rules.shippedOnUnreadExtra,
    rulesBySource,
    missesOnExtra: misses(all, rules.shipped, "extra"),
    missesOnDev: misses(all, rules.shipped, "dev"),
    learned: {
      devToExtra: learnedSummaries(all, devEvidence, devToExtra),
      extraToDev: learnedSummaries(all, shippedEvidence, extraToDev),
      leaveOneSourceOut: learnedSummaries(all, devEvidence, loso),
    },
  };
}

/** Whether a composed row's host request came from `repo` (its `host_source` names the file). */
function hostFrom(row: EvalRow, repo: string): boolean {
  const host = (row as EvalRow & { host_source?: string }).host_source ?? "";
  return host.startsWith(repo);
}

/** Where each rule family was written from (see changes.md for every change since issue 16). */
export const PROVENANCE: ReadonlyArray<readonly [string, string, string]> = [
  ["`instruction_override` (verb-then-noun window, rules.ts)", "dev", "—"],
  [
    "`instruction_override`, `prompt_extraction` (structural, structure.ts)",
    "issue 16 text + dev misses",
    'extra #7: targets "you have been told", "directions", "secrets"',
  ],
  ["`prompt_extraction` (patterns, rules.ts)", "dev", "—"],
  ["`chat_template_forgery`, `role_forgery`", "dev", "—"],
  [
    "`persona_switch`, `persona_framing`, `harmful_roleplay` (framing.ts)",
    "dev",
    "— (extra #6 tried, rejected)",
  ],
  ["`response_priming`", "dev", "—"],
  ["`adversarial_suffix` (token-ratio tail)", "dev", "extra #5: character-soup tail"],
  [
    "document rules (`addressed_to_model`, `code_insertion`, `embedded_request`, `exfiltration_link`)",
    "dev (BIPIA templates)",
    "—",
  ],
  ["hidden views, sanitizer flags (views.ts, sanitize.ts)", "dev + obfuscation work (other branch)", "—"],
];

function missLines(m: CrossResult["missesOnExtra"]): string[] {
  return Object.entries(m)
    .sort((a, b) => a[0].localeCompare(b[0]))
    .flatMap(([family, x]) => [
      `- \`${family}\`: ${x.missed} of ${x.of} missed${x.examples.length ? ", e.g." : ""}`,
      ...x.examples.map((e) => `  - "${e.replace(/[|`]/g, "'")}…"`),
    ]);
}

function learnedLines(title: string, l: LearnedResult): string[] {
  return [
    `#### ${title}: model alone`,
    "",
    ...table(l.model, false),
    "",
    `#### ${title}: max(model, rules)`,
    "",
    ...table(l.modelOrRules, false),
    "",
  ];
}

export function crossLines(c: CrossResult): string[] {
  return [
    "## Headline: cross-source validation",
    "",
    "Two collections: `prompt-guard-dev` (dev, 5 repositories) and `prompt-guard-extra` (extra, 13",
    "other repositories). The 600 composed rows of extra (`synthetic: true`) are in no number here.",
    "Every rule change since issue 16 is logged in `bench/guard-eval/changes.md` with the collection it",
    "was written from and its effect on the other; the guard can run without the extra-derived changes",
    '(`ruleSet: "dev"`), which is how the first table is measured.',
    "",
    "### 1. Rules written on dev, scored on extra (non-synthetic attacks)",
    "",
    ...table(c.devRulesOnExtra),
    "",
    "extra has no clean documents. Its hard negatives are security-tooling requests, application system",
    "prompts, defensive prompts (which quote attacks) and questions to an AI about oversight.",
    "",
    "### 2. Shipped rules (extra-derived changes frozen), scored on dev",
    "",
    "dev is where all but the extra-derived rules were written, so this is in-sample for them; the",
    "extra-derived changes are held out here (their effect: changes.md).",
    "",
    ...table(c.shippedOnDev),
    "",
    "### 3. Shipped rules on extra (partly in-sample)",
    "",
    "Extra-derived changes were written from the sources in `READ_EXTRA_SOURCES` (cross.ts); all of",
    "extra first, then only the sources never read (for the shipped rules these rows are held out):",
    "",
    ...table(c.shippedOnExtra),
    "",
    "Unread sources only:",
    "",
    ...table(c.shippedOnUnreadExtra),
    "",
    "### 4. By extra source repository (prompts, non-synthetic)",
    "",
    "| source | read for rule changes | dev rules: attacks caught | dev rules: benign flagged | shipped: attacks caught | shipped: benign flagged |",
    "| --- | --- | --- | --- | --- | --- |",
    ...c.rulesBySource.map(
      (s) =>
        `| ${s.repo} | ${READ_EXTRA_SOURCES.has(s.repo) ? "yes" : "no"} | ${fmt(s.devRules.attacks)} | ${fmt(s.devRules.benign)} | ${fmt(s.shipped.attacks)} | ${fmt(s.shipped.benign)} |`,
    ),
    "",
    "### 5. Where each rule family came from",
    "",
    "| rule family | written from | extra-derived changes |",
    "| --- | --- | --- |",
    ...PROVENANCE.map(([f, from, extra]) => `| ${f} | ${from} | ${extra} |`),
    "",
    "### 6. Misses of the shipped rules, by family, with examples",
    "",
    "extra (non-synthetic):",
    "",
    ...missLines(c.missesOnExtra),
    "",
    "dev:",
    "",
    ...missLines(c.missesOnDev),
    "",
    "### 7. Learned component (linear model over word and character n-grams plus the rule features)",
    "",
    "Logistic regression from `bench/guard-eval/model/` (the `ngrams` variant: hashed character 3–5-grams,",
    "word 1–2-grams, rule hits, character statistics), flag at p ≥ 0.5, prompts only. Each model is",
    "scored only on rows it never saw; scored on extra it gets the dev-written rules' hits as features.",
    "",
    ...learnedLines("Trained on dev, scored on extra", c.learned.devToExtra),
    ...learnedLines("Trained on extra, scored on dev", c.learned.extraToDev),
    ...learnedLines(
      "Leave one source repository out inside extra (trained on dev + the other extra sources)",
      c.learned.leaveOneSourceOut,
    ),
    "The model does not transfer: trained on one collection it either adds a few points of recall on",
    "the other for several times the false-positive budget (benign and hard negatives), or, trained on",
    "extra, flags a fifth of dev's benign prompts. It is therefore not shipped; the guard is rules only.",
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
        ...compactLines("dev rules on dev", r.devRulesOnDev),
        ...compactLines("dev rules on extra", r.devRulesOnExtra),
        ...compactLines("shipped on dev", r.shippedOnDev),
        ...compactLines("shipped on extra", r.shippedOnExtra),
        ...compactLines("shipped on extra, unread sources", r.shippedOnUnreadExtra),
      ].join("\n"),
    );
  } else {
    console.log(crossLines(crossSource()).join("\n"));
  }
}
