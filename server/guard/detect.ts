// Injection detection: the rule families run over every canonical view of the text; their
// weights combine into one score, mapped to a verdict with configurable thresholds. (A statistical
// model was tried and did not earn its place: bench/guard-eval/results.md.)

import type { RuleHit, RuleSet, TextKind } from "./rule-hit.ts";
import { applyRules } from "./rules.ts";
import { sanitizeText } from "./sanitize.ts";
import { adversarialSuffix } from "./suffix.ts";
import { buildViews, hiddenPayloadViews, type View } from "./views.ts";
import { triggerWindows } from "./windows.ts";

export type Verdict = "allow" | "flag" | "block";

export interface GuardThresholds {
  flag: number;
  block: number;
}

export interface Detection {
  verdict: Verdict;
  score: number;
  flags: string[];
}

export const DEFAULT_THRESHOLDS: GuardThresholds = { flag: 0.5, block: 0.8 };

// Smuggling characters are never needed by honest text, so finding them raises suspicion even
// when the hidden content itself matches no rule.
const SANITIZE_WEIGHTS: Record<string, number> = {
  tag_smuggling: 0.5,
  variation_selector_smuggling: 0.5,
  bidi_control_removed: 0.3,
  private_use_removed: 0.1,
  zero_width_removed: 0.1,
};
// An instruction that had to be hidden (comment, encoding, invisible characters) is worse than
// the same instruction in plain sight.
const HIDDEN_VIEW_BONUS = 0.35;

function noisyOr(weights: Iterable<number>): number {
  let keep = 1;
  for (const w of weights) keep *= 1 - Math.min(Math.max(w, 0), 1);
  return 1 - keep;
}

/** What the rules found in one text: the strongest weight per flag, and the folded view. */
export interface RuleEvidence {
  hits: Map<string, number>;
  ruleScore: number;
  folded: string;
}

// Prompts are read whole (an attacker must not escape the whole-text rules by padding). Documents
// longer than this are read only around cue combinations (windows.ts), which keeps the guard fast on
// long plain text; its rules for documents all have their cues listed there.
const WHOLE_DOCUMENT_LIMIT = 2048;

function viewsOf(text: string, sanitized: string, kind: TextKind): View[] {
  if (kind === "prompt" || text.length <= WHOLE_DOCUMENT_LIMIT) return buildViews(text, sanitized);
  const views = hiddenPayloadViews(text);
  for (const w of triggerWindows(sanitized)) {
    const piece = sanitized.slice(w.start, w.end);
    views.push(...buildViews(piece, piece, { payloads: false, rot13Below: 0, disguises: false }));
  }
  return views;
}

export function collectEvidence(text: string, kind: TextKind, ruleSet: RuleSet = "all"): RuleEvidence {
  const hits = new Map<string, number>();
  const note = (hit: RuleHit) => hits.set(hit.flag, Math.max(hits.get(hit.flag) ?? 0, hit.weight));

  const sanitized = sanitizeText(text);
  for (const flag of sanitized.flags) {
    const weight = SANITIZE_WEIGHTS[flag];
    if (weight !== undefined) note({ flag, weight });
  }
  const views = viewsOf(text, sanitized.text, kind);
  for (const view of views) {
    const found = applyRules(view.text, kind, ruleSet);
    // Distinct cues of one family in one view reinforce each other; across views the strongest
    // reading counts, so the same sentence seen twice is not double-counted.
    const perFlag = new Map<string, number[]>();
    for (const hit of found) perFlag.set(hit.flag, [...(perFlag.get(hit.flag) ?? []), hit.weight]);
    for (const [flag, weights] of perFlag) note({ flag, weight: noisyOr(weights) });
    if (view.name !== "folded" && view.name !== "deobfuscated" && found.some((h) => h.weight >= 0.3)) {
      note({ flag: `hidden_${view.name}`, weight: HIDDEN_VIEW_BONUS });
    }
  }
  if (kind === "prompt") for (const hit of adversarialSuffix(text, ruleSet)) note(hit);
  const folded = views
    .filter((v) => v.name === "folded")
    .map((v) => v.text)
    .join("\n");
  return { hits, ruleScore: noisyOr(hits.values()), folded };
}

export function detectInjection(
  text: string,
  opts: { kind: TextKind; thresholds?: GuardThresholds; ruleSet?: RuleSet },
): Detection {
  const thresholds = opts.thresholds ?? DEFAULT_THRESHOLDS;
  const evidence = collectEvidence(text, opts.kind, opts.ruleSet);
  const score = Math.round(evidence.ruleScore * 1000) / 1000;
  const verdict: Verdict = score >= thresholds.block ? "block" : score >= thresholds.flag ? "flag" : "allow";
  const flags = [...evidence.hits.entries()]
    .filter(([, w]) => w >= 0.1)
    .sort((a, b) => b[1] - a[1])
    .map(([flag]) => flag);
  return { verdict, score, flags };
}
