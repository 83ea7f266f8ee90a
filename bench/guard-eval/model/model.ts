// The statistical detector that was evaluated (and not shipped): logistic regression over
// features.ts, packable as int8-quantized hashed weights + dense weights + a character language
// model. Inference is one sparse dot product: linear in the text.

import { type CharLanguageModel, DENSE_SIZE, HASH_BITS, HASH_SIZE, type SparseVector } from "./features.ts";

/** The weights file's shape (version 1). */
export interface GuardModelFile {
  version: 1;
  hashBits: number;
  bias: number;
  /** Hashed weights as base64 of int8 values; multiply by hashScale. */
  hashWeights: string;
  hashScale: number;
  denseWeights: number[];
  lm: CharLanguageModel;
  /** Provenance: where the weights came from, for whoever reads the file. */
  trainedOn: string;
}

export interface GuardModel {
  bias: number;
  weights: Float32Array;
  lm: CharLanguageModel;
}

export function unpackModel(file: GuardModelFile): GuardModel {
  if (file.version !== 1 || file.hashBits !== HASH_BITS || file.denseWeights.length !== DENSE_SIZE) {
    throw new Error("guard model file does not match this feature layout; re-run bench/guard-eval/train.ts");
  }
  const bytes = Buffer.from(file.hashWeights, "base64");
  if (bytes.length !== HASH_SIZE) throw new Error("guard model file has the wrong number of hashed weights");
  const weights = new Float32Array(HASH_SIZE + DENSE_SIZE);
  const signed = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < HASH_SIZE; i++) weights[i] = (signed[i] ?? 0) * file.hashScale;
  for (let d = 0; d < DENSE_SIZE; d++) weights[HASH_SIZE + d] = file.denseWeights[d] ?? 0;
  return { bias: file.bias, weights, lm: file.lm };
}

/** The inverse of unpackModel; quantizes the hashed block to int8. */
export function packModel(model: GuardModel, trainedOn: string): GuardModelFile {
  let max = 0;
  for (let i = 0; i < HASH_SIZE; i++) max = Math.max(max, Math.abs(model.weights[i] ?? 0));
  const hashScale = max > 0 ? max / 127 : 1;
  const signed = new Int8Array(HASH_SIZE);
  for (let i = 0; i < HASH_SIZE; i++) signed[i] = Math.round((model.weights[i] ?? 0) / hashScale);
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  return {
    version: 1,
    hashBits: HASH_BITS,
    bias: round(model.bias),
    hashWeights: Buffer.from(signed.buffer).toString("base64"),
    hashScale,
    denseWeights: Array.from(model.weights.subarray(HASH_SIZE), round),
    lm: { classes: model.lm.classes, surprise: model.lm.surprise.map((x) => Math.round(x * 100) / 100) },
    trainedOn,
  };
}

export function predict(model: GuardModel, x: SparseVector): number {
  let z = model.bias;
  for (let k = 0; k < x.index.length; k++) z += (model.weights[x.index[k] ?? 0] ?? 0) * (x.value[k] ?? 0);
  return 1 / (1 + Math.exp(-z));
}
