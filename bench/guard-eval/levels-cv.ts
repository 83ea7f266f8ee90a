// Grouped cross-validation of the two count levels of the composite prompt rules (framing.ts):
// in each of 5 folds grouped by source, the levels are chosen on the other four folds (best macro
// recall within the false-positive targets) and applied to the held-out fold, so every number is
// out-of-fold. Documents have no level to choose; their rows keep the shipped verdict.

import type { RuleEvidence } from "../../server/guard/detect.ts";
import { DEFAULT_THRESHOLDS } from "../../server/guard/detect.ts";
import {
  FRAMING_LEVELS,
  personaKinds,
  personaWeight,
  roleplayPoints,
  roleplayWeight,
} from "../../server/guard/framing.ts";
import { type EvalRow, groupedFolds } from "./data.ts";

const PERSONA_GRID = [2, 3, 4, 5, 6];
const ROLEPLAY_GRID = [3, 4, 5, 6];
const COMPOSITE_FLAGS = new Set(["persona_framing", "harmful_roleplay"]);

export interface Levels {
  personaKinds: number;
  roleplayPoints: number;
}

export interface LevelsCv {
  /** Out-of-fold: whether each row was caught (flag or block). */
  caught: boolean[];
  chosen: Array<{ fold: number } & Levels>;
}

function noisyOr(weights: Iterable<number>): number {
  let keep = 1;
  for (const w of weights) keep *= 1 - w;
  return 1 - keep;
}

interface RowParts {
  /** Score of every other rule. */
  base: number;
  kinds: number;
  points: number;
}

function parts(row: EvalRow, evidence: RuleEvidence): RowParts {
  const others = [...evidence.hits].filter(([flag]) => !COMPOSITE_FLAGS.has(flag)).map(([, w]) => w);
  const text = evidence.folded;
  return {
    base: noisyOr(others),
    kinds: row.kind === "prompt" ? personaKinds(text) : 0,
    points: row.kind === "prompt" ? roleplayPoints(text) : 0,
  };
}

function caughtWith(p: RowParts, levels: Levels): boolean {
  const score = noisyOr([
    p.base,
    personaWeight(p.kinds, levels.personaKinds),
    roleplayWeight(p.points, levels.roleplayPoints),
  ]);
  return Math.round(score * 1000) / 1000 >= DEFAULT_THRESHOLDS.flag;
}

/**
 * Macro recall over the attack families present (-1 when a false-positive target is missed) and the
 * number of false positives, on the rows given.
 */
function objective(rows: EvalRow[], all: RowParts[], idx: number[], levels: Levels): [number, number] {
  const fam = new Map<string, [number, number]>();
  const fp = { benign: [0, 0], hard_negative: [0, 0] } as Record<string, [number, number]>;
  for (const i of idx) {
    const row = rows[i] as EvalRow;
    const hit = caughtWith(all[i] as RowParts, levels);
    if (row.set === "attack") {
      const f = fam.get(row.family) ?? [0, 0];
      f[1]++;
      if (hit) f[0]++;
      fam.set(row.family, f);
    } else if (row.set === "benign" || row.set === "hard_negative") {
      const f = fp[row.set] as [number, number];
      f[1]++;
      if (hit) f[0]++;
    }
  }
  const rate = ([k, n]: [number, number]) => (n === 0 ? 0 : k / n);
  const falsePositives = (fp.benign?.[0] ?? 0) + (fp.hard_negative?.[0] ?? 0);
  if (rate(fp.benign as [number, number]) > 0.03 || rate(fp.hard_negative as [number, number]) > 0.05)
    return [-1, falsePositives];
  const recalls = [...fam.values()].map(rate);
  return [recalls.reduce((a, b) => a + b, 0) / Math.max(1, recalls.length), falsePositives];
}

const distanceFromShipped = (l: Levels) =>
  Math.abs(l.personaKinds - FRAMING_LEVELS.personaKinds) +
  Math.abs(l.roleplayPoints - FRAMING_LEVELS.roleplayPoints);

export function levelsOutOfFold(rows: EvalRow[], evidence: RuleEvidence[], k = 5): LevelsCv {
  const all = rows.map((r, i) => parts(r, evidence[i] as RuleEvidence));
  const foldOf = groupedFolds(rows, k);
  const caught = new Array<boolean>(rows.length).fill(false);
  const chosen: LevelsCv["chosen"] = [];
  for (let fold = 0; fold < k; fold++) {
    const train = rows.map((_, i) => i).filter((i) => foldOf.get((rows[i] as EvalRow).group) !== fold);
    // Best recall first; among equals, fewer false positives, then the levels nearest the shipped
    // ones (when the training folds cannot tell levels apart, the design choice stands).
    let best: Levels = { ...FRAMING_LEVELS };
    let bestKey: [number, number, number] = [Number.NEGATIVE_INFINITY, 0, 0];
    for (const personaLevel of PERSONA_GRID) {
      for (const roleplayLevel of ROLEPLAY_GRID) {
        const levels = { personaKinds: personaLevel, roleplayPoints: roleplayLevel };
        const [recall, falsePositives] = objective(rows, all, train, levels);
        const key: [number, number, number] = [recall, -falsePositives, -distanceFromShipped(levels)];
        const better =
          key[0] > bestKey[0] ||
          (key[0] === bestKey[0] && (key[1] > bestKey[1] || (key[1] === bestKey[1] && key[2] > bestKey[2])));
        if (better) {
          bestKey = key;
          best = levels;
        }
      }
    }
    chosen.push({ fold, ...best });
    rows.forEach((r, i) => {
      if (foldOf.get(r.group) === fold) caught[i] = caughtWith(all[i] as RowParts, best);
    });
  }
  return { caught, chosen };
}

/** The shipped levels applied to every row through the same decomposition (a consistency check). */
export function caughtAtShippedLevels(rows: EvalRow[], evidence: RuleEvidence[]): boolean[] {
  return rows.map((r, i) => caughtWith(parts(r, evidence[i] as RuleEvidence), FRAMING_LEVELS));
}
