// Injection detection: runs the rule families over every canonical view of the text, combines
// their weights into one score and maps it to a verdict with configurable thresholds.

import { applyRules, type RuleHit, type TextKind } from "./rules.ts";
import { sanitizeText } from "./sanitize.ts";
import { adversarialSuffix } from "./suffix.ts";
import { buildViews } from "./views.ts";

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

export function detectInjection(
  text: string,
  opts: { kind: TextKind; thresholds?: GuardThresholds },
): Detection {
  const thresholds = opts.thresholds ?? DEFAULT_THRESHOLDS;
  const best = new Map<string, number>();
  const note = (hit: RuleHit) => best.set(hit.flag, Math.max(best.get(hit.flag) ?? 0, hit.weight));

  for (const flag of sanitizeText(text).flags) {
    const weight = SANITIZE_WEIGHTS[flag];
    if (weight !== undefined) note({ flag, weight });
  }
  for (const view of buildViews(text)) {
    const hits = applyRules(view.text, opts.kind);
    // Distinct cues of one family in one view reinforce each other; across views the strongest
    // reading counts, so the same sentence seen twice is not double-counted.
    const perFlag = new Map<string, number[]>();
    for (const hit of hits) perFlag.set(hit.flag, [...(perFlag.get(hit.flag) ?? []), hit.weight]);
    for (const [flag, weights] of perFlag) note({ flag, weight: noisyOr(weights) });
    if (view.name !== "folded" && hits.some((h) => h.weight >= 0.3)) {
      note({ flag: `hidden_${view.name}`, weight: HIDDEN_VIEW_BONUS });
    }
  }
  if (opts.kind === "prompt") for (const hit of adversarialSuffix(text)) note(hit);

  const score = Math.round(noisyOr(best.values()) * 1000) / 1000;
  const verdict: Verdict = score >= thresholds.block ? "block" : score >= thresholds.flag ? "flag" : "allow";
  const flags = [...best.entries()]
    .filter(([, w]) => w >= 0.1)
    .sort((a, b) => b[1] - a[1])
    .map(([flag]) => flag);
  return { verdict, score, flags };
}
