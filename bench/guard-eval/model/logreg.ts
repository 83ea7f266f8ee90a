// Training of the guard's statistical model: the character language model behind the surprise
// features, weighted L2-regularized logistic regression (AdaGrad SGD, seeded), and the row weights.

import type { EvalRow } from "../data.ts";
import {
  type CharLanguageModel,
  FEATURE_COUNT,
  HASH_SIZE,
  LM_CLASSES,
  type SparseVector,
  symbolClass,
} from "./features.ts";
import type { GuardModel } from "./model.ts";

/** Bigram surprise (-log2 p, add-one smoothed) fitted on benign text only. */
export function fitCharLm(texts: string[]): CharLanguageModel {
  const counts = new Float64Array(LM_CLASSES * LM_CLASSES).fill(1);
  for (const t of texts) {
    const lower = t.toLowerCase();
    let prev = symbolClass(lower.charCodeAt(0));
    for (let i = 1; i < lower.length; i++) {
      const cur = symbolClass(lower.charCodeAt(i));
      counts[prev * LM_CLASSES + cur] = (counts[prev * LM_CLASSES + cur] ?? 0) + 1;
      prev = cur;
    }
  }
  const surprise: number[] = [];
  for (let a = 0; a < LM_CLASSES; a++) {
    let row = 0;
    for (let b = 0; b < LM_CLASSES; b++) row += counts[a * LM_CLASSES + b] ?? 0;
    for (let b = 0; b < LM_CLASSES; b++) surprise.push(-Math.log2((counts[a * LM_CLASSES + b] ?? 1) / row));
  }
  return { classes: LM_CLASSES, surprise };
}

/**
 * Positives and negatives carry equal total weight; among positives every attack family (and the
 * embedded-instruction documents) carries an equal share, so the large in-the-wild family does
 * not drown the small ones — the target is macro recall.
 */
export function rowWeights(rows: EvalRow[]): number[] {
  const posGroups = new Map<string, number>();
  let negatives = 0;
  for (const r of rows) {
    if (r.label === 1) posGroups.set(r.family, (posGroups.get(r.family) ?? 0) + 1);
    else negatives++;
  }
  const n = rows.length;
  return rows.map((r) =>
    r.label === 1 ? n / 2 / posGroups.size / (posGroups.get(r.family) ?? 1) : n / 2 / Math.max(1, negatives),
  );
}

export interface TrainOptions {
  epochs: number;
  learningRate: number;
  /** L2 penalty per unit of example weight. */
  l2: number;
  seed: number;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function trainLogistic(
  xs: SparseVector[],
  ys: number[],
  weights: number[],
  lm: CharLanguageModel,
  opts: TrainOptions,
): GuardModel {
  const w = new Float64Array(FEATURE_COUNT);
  const g2 = new Float64Array(FEATURE_COUNT).fill(1e-8);
  let bias = 0;
  let biasG2 = 1e-8;
  const order = xs.map((_, i) => i);
  const random = rng(opts.seed);
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
    }
    for (const i of order) {
      const x = xs[i];
      if (x === undefined) continue;
      let z = bias;
      for (let k = 0; k < x.index.length; k++) z += (w[x.index[k] ?? 0] ?? 0) * (x.value[k] ?? 0);
      const p = 1 / (1 + Math.exp(-z));
      const err = (p - (ys[i] ?? 0)) * (weights[i] ?? 1);
      for (let k = 0; k < x.index.length; k++) {
        const f = x.index[k] ?? 0;
        // Lazy L2: the penalty is applied to the weights this example touches.
        const g = err * (x.value[k] ?? 0) + opts.l2 * (w[f] ?? 0);
        g2[f] = (g2[f] ?? 0) + g * g;
        w[f] = (w[f] ?? 0) - (opts.learningRate * g) / Math.sqrt(g2[f] ?? 1);
      }
      biasG2 += err * err;
      bias -= (opts.learningRate * err) / Math.sqrt(biasG2);
    }
  }
  const weightsOut = new Float32Array(FEATURE_COUNT);
  for (let i = 0; i < FEATURE_COUNT; i++) weightsOut[i] = w[i] ?? 0;
  return { bias, weights: weightsOut, lm };
}

/** Number of hashed buckets with a non-zero weight, for the report. */
export function usedBuckets(model: GuardModel): number {
  let used = 0;
  for (let i = 0; i < HASH_SIZE; i++) if ((model.weights[i] ?? 0) !== 0) used++;
  return used;
}
