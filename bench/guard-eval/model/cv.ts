// Fitting the evaluated statistical model on prompt rows, and 5-fold cross-validation grouped by
// source that yields out-of-fold probabilities only (each row scored by a model that never saw its group).

import { collectEvidence, type RuleEvidence } from "../../../server/guard/detect.ts";
import type { RuleSet } from "../../../server/guard/rule-hit.ts";
import { type EvalRow, groupedFolds } from "../data.ts";
import { extractFeatures, HASH_SIZE, type SparseVector } from "./features.ts";
import { fitCharLm, rowWeights, type TrainOptions, trainLogistic } from "./logreg.ts";
import { type GuardModel, packModel, predict, unpackModel } from "./model.ts";

/** "ngrams": hashed n-grams + rule and statistics features; "dense": the latter only. */
export type ModelVariant = "ngrams" | "dense";

export const VARIANT_OPTIONS: Record<ModelVariant, TrainOptions> = {
  ngrams: { epochs: 30, learningRate: 0.3, l2: 1e-4, seed: 7 },
  dense: { epochs: 30, learningRate: 0.1, l2: 1e-3, seed: 7 },
};

export function evidenceFor(rows: EvalRow[], ruleSet: RuleSet = "all"): RuleEvidence[] {
  return rows.map((r) => collectEvidence(r.text, r.kind, ruleSet));
}

function features(
  row: EvalRow,
  evidence: RuleEvidence,
  lm: GuardModel["lm"],
  variant: ModelVariant,
): SparseVector {
  const x = extractFeatures(
    {
      raw: row.text,
      folded: evidence.folded,
      rules: evidence.hits,
      ruleScore: evidence.ruleScore,
      kind: row.kind,
    },
    lm,
  );
  if (variant === "ngrams") return x;
  const keep: number[] = [];
  x.index.forEach((f, k) => {
    if (f >= HASH_SIZE) keep.push(k);
  });
  return {
    index: Int32Array.from(keep, (k) => x.index[k] ?? 0),
    value: Float32Array.from(keep, (k) => x.value[k] ?? 0),
  };
}

/** Trains on the prompt rows given; int8 packing round trip included, as if shipped. */
export function fitModel(rows: EvalRow[], evidence: RuleEvidence[], variant: ModelVariant): GuardModel {
  const keep = rows.map((_, i) => i).filter((i) => rows[i]?.kind === "prompt");
  const train = keep.map((i) => rows[i] as EvalRow);
  const lm = fitCharLm(train.filter((r) => r.label === 0).map((r) => r.text));
  const xs = keep.map((i) => features(rows[i] as EvalRow, evidence[i] as RuleEvidence, lm, variant));
  const model = trainLogistic(
    xs,
    train.map((r) => r.label),
    rowWeights(train),
    lm,
    VARIANT_OPTIONS[variant],
  );
  return unpackModel(packModel(model, `${variant} model`));
}

/** The model's probability per prompt row (documents get undefined: the model is for prompts). */
export function scoreRows(
  model: GuardModel,
  rows: EvalRow[],
  evidence: RuleEvidence[],
  variant: ModelVariant,
  only: (i: number) => boolean = () => true,
): (number | undefined)[] {
  return rows.map((r, i) =>
    r.kind === "prompt" && only(i)
      ? predict(model, features(r, evidence[i] as RuleEvidence, model.lm, variant))
      : undefined,
  );
}

/** Out-of-fold probability per prompt row (documents get undefined: the model is for prompts). */
export function outOfFold(
  rows: EvalRow[],
  evidence: RuleEvidence[],
  variant: ModelVariant,
  k = 5,
): (number | undefined)[] {
  const folds = groupedFolds(rows, k);
  const fold = rows.map((r) => folds.get(r.group) ?? 0);
  const probability = new Array<number | undefined>(rows.length).fill(undefined);
  for (let f = 0; f < k; f++) {
    const trainIdx = rows.map((_, i) => i).filter((i) => fold[i] !== f);
    const model = fitModel(
      trainIdx.map((i) => rows[i] as EvalRow),
      trainIdx.map((i) => evidence[i] as RuleEvidence),
      variant,
    );
    scoreRows(model, rows, evidence, variant, (i) => fold[i] === f).forEach((p, i) => {
      if (p !== undefined) probability[i] = p;
    });
  }
  return probability;
}
