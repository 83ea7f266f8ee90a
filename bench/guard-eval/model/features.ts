// Feature vector of one text for the evaluated statistical detector: hashed character and word n-grams of
// the canonical (folded) view, the rule families' hit weights, and character statistics that
// expose optimizer-made gibberish (GCG suffixes) the way a perplexity filter does.

/** Hashed n-gram buckets; the dense features follow them. A power of two. */
export const HASH_BITS = 15;
export const HASH_SIZE = 1 << HASH_BITS;

/** Rule flags fed to the model as dense features, in a fixed order (the weights file depends on it). */
export const RULE_FEATURES = [
  "instruction_override",
  "prompt_extraction",
  "chat_template_forgery",
  "role_forgery",
  "persona_switch",
  "response_priming",
  "exfiltration_link",
  "harmful_roleplay",
  "adversarial_suffix",
  "addressed_to_model",
  "hidden_view",
  "smuggling_characters",
  "rule_score",
] as const;

export const STAT_FEATURES = [
  "tail_unnatural_ratio",
  "tail_surprise",
  "max_window_surprise",
  "surprise_jump",
  "inner_case_flip_ratio",
  "symbol_ratio",
  "length_log",
  "document_kind",
] as const;

export const DENSE_SIZE = RULE_FEATURES.length + STAT_FEATURES.length;
export const FEATURE_COUNT = HASH_SIZE + DENSE_SIZE;

/** A sparse vector: parallel index and value arrays. */
export interface SparseVector {
  index: Int32Array;
  value: Float32Array;
}

/**
 * A character-bigram language model over 40 symbol classes (26 letters, digit, space, 12
 * punctuation classes), as negative log-probabilities. Fitted on benign text by the training script;
 * tails far less probable than the text's head are what adversarial suffixes look like.
 */
export interface CharLanguageModel {
  classes: number;
  /** classes × classes surprise values, row = previous symbol. */
  surprise: number[];
}

export const LM_CLASSES = 40;

const PUNCT_CLASS: Record<string, number> = {
  ".": 28,
  ",": 29,
  "!": 30,
  "?": 30,
  "'": 31,
  '"': 31,
  "`": 31,
  "-": 32,
  _: 32,
  "(": 33,
  ")": 33,
  "[": 34,
  "]": 34,
  "{": 35,
  "}": 35,
  "<": 36,
  ">": 36,
  "=": 36,
  "/": 37,
  "\\": 37,
  "|": 37,
  ":": 38,
  ";": 38,
};

/** Symbol class of a UTF-16 code unit of lower-cased text. */
export function symbolClass(code: number): number {
  if (code >= 97 && code <= 122) return code - 97;
  if (code >= 48 && code <= 57) return 26;
  if (code === 32 || code === 10 || code === 9 || code === 13) return 27;
  const p = code < 128 ? PUNCT_CLASS[String.fromCharCode(code)] : undefined;
  return p ?? 39;
}

// Bounded work per text: the head carries the framing of a request, the tail its suffix.
const HEAD_CHARS = 6000;
const TAIL_CHARS = 2000;
const SURPRISE_WINDOW = 48;

function clip(text: string): string {
  if (text.length <= HEAD_CHARS + TAIL_CHARS) return text;
  return `${text.slice(0, HEAD_CHARS)} ${text.slice(-TAIL_CHARS)}`;
}

/** Lower-case, whitespace runs collapsed, digits merged: n-grams then generalize across numbers. */
function canonicalForNgrams(folded: string): string {
  return clip(folded).replace(/\s+/g, " ").replace(/[0-9]/g, "0");
}

function mix(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}

function addNgrams(text: string, counts: Map<number, number>): void {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    let h = 0x811c9dc5;
    for (let len = 1; len <= 5 && i + len <= n; len++) {
      h = mix(h, text.charCodeAt(i + len - 1));
      if (len >= 3) {
        const bucket = (mix(h, len) >>> 0) & (HASH_SIZE - 1);
        counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
      }
    }
  }
  const words = text.match(/[a-z0]+(?:'[a-z]+)?|[^\sa-z0]/g) ?? [];
  let prev = 0;
  for (const w of words) {
    let h = 0x9e3779b9;
    for (let i = 0; i < w.length; i++) h = mix(h, w.charCodeAt(i));
    const uni = (mix(h, 101) >>> 0) & (HASH_SIZE - 1);
    counts.set(uni, (counts.get(uni) ?? 0) + 1);
    if (prev !== 0) {
      const bi = (mix(mix(prev, 0x2f), h) >>> 0) & (HASH_SIZE - 1);
      counts.set(bi, (counts.get(bi) ?? 0) + 1);
    }
    prev = h;
  }
}

const SYMBOLS = /[[\]{}()<>$\\^~|=*#@`"';:!?%+]/g;

function isUnnatural(token: string): boolean {
  const letters = token.match(/[A-Za-z]/g)?.length ?? 0;
  const symbols = token.match(SYMBOLS)?.length ?? 0;
  if (letters > 0 && symbols >= 2) return true;
  if (letters === 0 && symbols >= 2 && !/^[.!?,;:'"-]+$/.test(token)) return true;
  return (
    /^[A-Za-z]+$/.test(token) && /[a-z]{2}[A-Z]/.test(token) && !/^[A-Z][a-z]+(?:[A-Z][a-z]+)+$/.test(token)
  );
}

/** Mean surprise of each SURPRISE_WINDOW-character window; returns [tail, max, whole-text mean]. */
function surpriseProfile(lower: string, lm: CharLanguageModel): [number, number, number] {
  const n = lower.length;
  if (n < 2) return [0, 0, 0];
  const s = new Float64Array(n);
  let prev = symbolClass(lower.charCodeAt(0));
  let total = 0;
  for (let i = 1; i < n; i++) {
    const cur = symbolClass(lower.charCodeAt(i));
    const v = lm.surprise[prev * lm.classes + cur] ?? 0;
    s[i] = v;
    total += v;
    prev = cur;
  }
  const w = Math.min(SURPRISE_WINDOW, n - 1);
  let win = 0;
  for (let i = 1; i <= w; i++) win += s[i] ?? 0;
  let max = win;
  for (let i = w + 1; i < n; i++) {
    win += (s[i] ?? 0) - (s[i - w] ?? 0);
    if (win > max) max = win;
  }
  return [win / w, max / w, total / (n - 1)];
}

export interface FeatureInput {
  /** The original text (case kept: case flips are evidence). */
  raw: string;
  /** Its folded canonical view. */
  folded: string;
  /** Rule evidence: flag → weight, and the rules' combined score. */
  rules: ReadonlyMap<string, number>;
  ruleScore: number;
  kind: "prompt" | "document";
}

function ruleFeature(name: (typeof RULE_FEATURES)[number], input: FeatureInput): number {
  if (name === "rule_score") return input.ruleScore;
  if (name === "hidden_view") {
    let best = 0;
    for (const [flag, w] of input.rules) if (flag.startsWith("hidden_")) best = Math.max(best, w);
    return best;
  }
  if (name === "smuggling_characters") {
    let best = 0;
    for (const flag of [
      "tag_smuggling",
      "variation_selector_smuggling",
      "bidi_control_removed",
      "zero_width_removed",
    ]) {
      best = Math.max(best, input.rules.get(flag) ?? 0);
    }
    return best;
  }
  return input.rules.get(name) ?? 0;
}

/** Character statistics in [0, ~1]; surprise values are scaled by a typical bigram surprise. */
function statFeatures(input: FeatureInput, lm: CharLanguageModel): number[] {
  const raw = clip(input.raw);
  const tokens = raw.slice(-600).split(/\s+/).filter(Boolean).slice(-24);
  const unnatural = tokens.length >= 6 ? tokens.filter(isUnnatural).length / tokens.length : 0;
  const lower = raw.toLowerCase();
  const [tail, max, mean] = surpriseProfile(lower, lm);
  const words = raw.match(/[A-Za-z]{3,}/g) ?? [];
  const flips = words.filter((w) => /[a-z][A-Z]/.test(w) && !/^[A-Z]?[a-z]+(?:[A-Z][a-z]+)+$/.test(w)).length;
  const symbols = raw.match(SYMBOLS)?.length ?? 0;
  const scale = 6;
  return [
    unnatural,
    tail / scale,
    max / scale,
    Math.max(0, tail - mean) / scale,
    words.length > 0 ? Math.min(1, (flips / words.length) * 5) : 0,
    raw.length > 0 ? Math.min(1, (symbols / raw.length) * 5) : 0,
    Math.min(1, Math.log10(1 + input.raw.length) / 5),
    input.kind === "document" ? 1 : 0,
  ];
}

/**
 * The model's input: n-gram counts (log-scaled, L2-normalized so length does not dominate) in the
 * hashed block, then the dense rule and statistics features.
 */
export function extractFeatures(input: FeatureInput, lm: CharLanguageModel): SparseVector {
  const counts = new Map<number, number>();
  addNgrams(canonicalForNgrams(input.folded), counts);
  let norm = 0;
  for (const c of counts.values()) norm += Math.log1p(c) ** 2;
  norm = Math.sqrt(norm) || 1;
  const dense = [...RULE_FEATURES.map((f) => ruleFeature(f, input)), ...statFeatures(input, lm)];
  const index = new Int32Array(counts.size + dense.length);
  const value = new Float32Array(counts.size + dense.length);
  let k = 0;
  for (const [bucket, c] of counts) {
    index[k] = bucket;
    value[k] = Math.log1p(c) / norm;
    k++;
  }
  for (let d = 0; d < dense.length; d++) {
    index[k] = HASH_SIZE + d;
    value[k] = dense[d] ?? 0;
    k++;
  }
  return { index, value };
}
