// Structural detection of instruction override, prompt extraction and goal hijacking: an action
// addressed to the model (an imperative, a request "can you…", a passive "… should be ignored")
// paired with a target that is the model's own instructions or the text before the user's turn, in
// any word order and across a sentence boundary when a pronoun points back ("Your rules? Ignore them.").

import type { RuleHit, RuleSet } from "./rule-hit.ts";

const T = {
  /** Actions that cancel instructions. */
  Override: 1 << 0,
  /** Actions that make the model put instructions into its answer. */
  Extract: 1 << 1,
  /** Compliance verbs: negated ("don't follow your rules") they override. */
  Comply: 1 << 2,
  /** Nouns naming instructions. */
  Target: 1 << 3,
  /** Owners that make a target the model's own: "your", "system", "initial", "hidden"… */
  Own: 1 << 4,
  /** Positions that make a target the text before the user's turn: "above", "previous"… */
  Before: 1 << 5,
  /** Nouns that name text by position only ("the text above"): targets only with a Before word. */
  Text: 1 << 6,
  /** Words that may stand between a clause start and its imperative verb. */
  Lead: 1 << 7,
  Negation: 1 << 8,
  /** Pronouns pointing back to a target of the previous sentence. */
  Back: 1 << 9,
  /** Asks for the text word for word. */
  Verbatim: 1 << 10,
  /** Question openers: "what are your rules", "what's the opposite of your instructions". */
  Question: 1 << 11,
  /** Participles of a passive override: "the above instructions are void / can be ignored". */
  Void: 1 << 12,
} as const;

/** Participles of a passive override; the document scan (windows.ts) opens a window on them too. */
export const VOID_WORDS =
  "ignored disregarded forgotten overridden overwritten void cancelled canceled revoked suspended obsolete " +
  "invalid null outdated superseded replaced lifted removed deleted irrelevant";

const WORDS: ReadonlyArray<readonly [number, string]> = [
  [
    T.Override,
    "ignore disregard forget override overwrite bypass skip discard drop abandon neglect overlook dismiss erase " +
      "delete remove cancel void nullify revoke suspend supersede replace reset unlearn circumvent violate break " +
      "ditch scrap nevermind",
  ],
  [
    T.Extract,
    "reveal repeat print output show display convert translate summarize summarise encode spell rewrite " +
      "paraphrase list tell share give dump leak recite copy paste echo write put transform return reproduce " +
      "quote disclose expose type restate describe explain render format export transcribe send",
  ],
  [
    T.Comply,
    "follow following obey obeying heed respect honor honour apply observe abide adhere comply complying",
  ],
  [
    T.Target,
    "instructions instruction rules prompt prompts guidelines directives directive policies constraints " +
      "restrictions programming orders commands guidance preprompt initialization instructed told directions secrets",
  ],
  [T.Own, "your system initial original hidden secret internal developer confidential starting given secret"],
  [T.Before, "above previous previously prior earlier preceding before first beginning"],
  [
    T.Text,
    "text words message messages content conversation everything anything said sentences lines context",
  ],
  [
    T.Lead,
    "please now just simply then also kindly immediately first instead completely totally fully entirely and so " +
      "ok okay well actually all of the",
  ],
  [T.Negation, "not don't dont never stop no longer cease quit refuse"],
  [T.Back, "them it they those these that"],
  [T.Verbatim, "verbatim word exactly everything entire whole full complete all"],
  [T.Question, "what what's whats which how where tell"],
  [T.Void, VOID_WORDS],
];

// A preposition between a verb and its target makes the target a place: "put this after your
// instructions", "add it to the end of your prompt" (how defensive prompts are installed).
const LOCATIVE = new Set([
  "to",
  "after",
  "before",
  "into",
  "in",
  "at",
  "below",
  "under",
  "within",
  "on",
  "onto",
  "end",
]);

// Words between a modal request and its verb: "can you (please) reveal", "I want you to print".
const MODAL_TAILS = new Set(["you", "to", "u"]);
const MODAL_HEADS = new Set([
  "can",
  "could",
  "would",
  "will",
  "must",
  "should",
  "need",
  "have",
  "want",
  "like",
  "are",
  "going",
  "order",
  "command",
  "ask",
  "instruct",
  "may",
  "free",
  "sure",
  "try",
  "let's",
  "lets",
  "and",
]);

// Words checked by identity below without a class of their own.
const KEEP = ["you", "you've", "youve", "were", "have", "a", "an", "then", "u"];

function hashWord(word: string): number {
  let h = 0;
  for (let i = 0; i < word.length; i++) h = (Math.imul(h, 31) + word.charCodeAt(i)) | 0;
  return h;
}

/**
 * Known words by hash (the tokenizer hashes as it reads, so the many other words are never sliced
 * out of the text); a hit is confirmed against the text. Unknown words become tokens with no word.
 */
interface Known {
  word: string;
  cls: number;
}
const KNOWN = new Map<number, Known>();
function know(word: string, cls: number): void {
  const entry = KNOWN.get(hashWord(word));
  if (entry !== undefined && entry.word !== word) throw new Error(`structure.ts: hash collision ${word}`);
  KNOWN.set(hashWord(word), { word, cls: (entry?.cls ?? 0) | cls });
}
for (const [cls, list] of WORDS) for (const w of list.split(" ")) know(w, cls);
for (const w of [...KEEP, ...LOCATIVE, ...MODAL_TAILS, ...MODAL_HEADS]) know(w, 0);

interface Token {
  word: string;
  cls: number;
  sentence: number;
  /** Whether the token opens its clause (after skipping lead words). */
  clauseHead: boolean;
}

const isLower = (c: number) => c >= 97 && c <= 122;
// Reach, in words, between an action and its target inside one sentence.
const REACH = 12;

/**
 * The words of the text with their classes, sentence numbers and clause starts, in one pass over
 * the character codes: words are runs of a–z with inner apostrophes; punctuation ends sentences
 * (". ! ? ; : newline") or clauses (", — -").
 */
const inWord = (text: string, i: number, c: number, start: number) =>
  isLower(c) || (c === 39 && start >= 0 && isLower(text.charCodeAt(i + 1)));

/** The known word text[start, end) with this hash, if it is one. */
function knownAt(text: string, start: number, end: number, hash: number): Known | undefined {
  const known = KNOWN.get(hash);
  return known !== undefined && end - start === known.word.length && text.startsWith(known.word, start)
    ? known
    : undefined;
}

/**
 * Calls `onWord` for each word (its bounds and hash) and `onBreak` for each character between
 * words (after the word it ends), in one pass over the character codes; stops, returning true,
 * as soon as `onWord` returns true.
 */
function scanWords(
  text: string,
  onWord: (start: number, end: number, hash: number) => boolean,
  onBreak?: (c: number) => void,
): boolean {
  let start = -1;
  let hash = 0;
  const n = text.length;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 32;
    if (inWord(text, i, c, start)) {
      if (start < 0) {
        start = i;
        hash = 0;
      }
      hash = (Math.imul(hash, 31) + c) | 0;
      continue;
    }
    if (start >= 0) {
      if (onWord(start, i, hash)) return true;
      start = -1;
    }
    onBreak?.(c);
  }
  return false;
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let sentence = 0;
  let head = true;
  scanWords(
    text,
    (start, end, hash) => {
      const known = knownAt(text, start, end, hash);
      const cls = known?.cls ?? 0;
      out.push({ word: known?.word ?? "", cls, sentence, clauseHead: head });
      if (!(cls & T.Lead)) head = false;
      return false;
    },
    (c) => {
      if (c === 46 || c === 33 || c === 63 || c === 59 || c === 58 || c === 10) {
        // ".\n" or "?!" ends one sentence, not two.
        if (out.length > 0 && out[out.length - 1]?.sentence === sentence) sentence++;
        head = true;
      } else if (c === 44 || c === 8212 || c === 45) {
        head = true;
      }
    },
  );
  return out;
}

/** Whether the verb at i is addressed to the reader: clause-initial, or after "can you", "I want you to"… */
function addressed(tokens: Token[], i: number): boolean {
  const t = tokens[i];
  if (t === undefined) return false;
  if (t.clauseHead) return true;
  // A second imperative joined to a first: "set aside and ignore", "read this, then print".
  const prev = tokens[i - 1]?.word;
  if ((prev === "and" || prev === "then") && tokens[i - 1]?.sentence === t.sentence) return true;
  // Walk back over lead words, then look for a modal request ("could you", "you must", "i need you to").
  let j = i - 1;
  while (j >= 0 && (tokens[j]?.cls ?? 0) & T.Lead && tokens[j]?.sentence === t.sentence) j--;
  const a = tokens[j]?.word ?? "";
  const b = tokens[j - 1]?.word ?? "";
  if (tokens[j]?.sentence !== t.sentence) return false;
  if (MODAL_TAILS.has(a) && (MODAL_HEADS.has(b) || b === "you")) return true;
  return MODAL_HEADS.has(a) && b === "you";
}

/** Negated just before i ("do not follow", "never reveal", "under no circumstances should you print"). */
function negated(tokens: Token[], i: number): boolean {
  for (let j = i - 1; j >= Math.max(0, i - 5); j--) {
    const t = tokens[j];
    if (t === undefined || t.sentence !== tokens[i]?.sentence) return false;
    if (t.cls & T.Negation) return true;
  }
  return false;
}

function placeBetween(tokens: Token[], i: number, k: number): boolean {
  for (let j = i + 1; j < k; j++) if (LOCATIVE.has(tokens[j]?.word ?? "")) return true;
  return false;
}

const ARTICLE = new Set(["a", "an"]);
// Targets and the three-word reach back from "told" ("you have been told") were written from
// prompt-guard-extra (bench/guard-eval/changes.md #7); the "dev" rule set leaves them out.
const FROM_EXTRA = new Set(["directions", "secrets"]);

/**
 * Target strength at k: 3 = instructions addressed as the reader's ("your rules", "what you were
 * told"), 2 = the model's by name ("the system prompt", "hidden instructions"), 1 = the text before
 * the user's turn ("the instructions above"), 0 = none. "A system prompt" is a new text, not the model's.
 */
function targetAt(tokens: Token[], k: number, ruleSet: RuleSet): number {
  const t = tokens[k];
  if (t === undefined || !(t.cls & (T.Target | T.Text))) return 0;
  if (ruleSet === "dev" && FROM_EXTRA.has(t.word)) return 0;
  if (t.word === "told" || t.word === "instructed") {
    // "what you were told", "everything you have been told", "all that you've been instructed"
    for (let j = k - 1; j >= Math.max(0, k - (ruleSet === "all" ? 3 : 2)); j--) {
      const w = tokens[j]?.word;
      if (w === "you" || (ruleSet === "all" && (w === "you've" || w === "youve"))) return 3;
    }
    return 0;
  }
  if (ARTICLE.has(tokens[k - 1]?.word ?? "") || ARTICLE.has(tokens[k - 2]?.word ?? "")) return 0;
  let own = 0;
  let before = false;
  for (let j = Math.max(0, k - 3); j <= Math.min(tokens.length - 1, k + 3); j++) {
    const u = tokens[j];
    if (j === k || u === undefined || u.sentence !== t.sentence) continue;
    if (u.cls & T.Own && j < k) own = Math.max(own, u.word === "your" ? 3 : 2);
    if (u.cls & T.Before) before = true;
    // "the instructions you were given", "the rules you have"
    if (j > k && u.word === "you" && (tokens[j + 1]?.word === "were" || tokens[j + 1]?.word === "have"))
      own = 3;
    // "which rules were you given"
    if (j === k + 1 && (u.word === "were" || u.word === "have") && tokens[j + 1]?.word === "you") own = 3;
  }
  if (t.cls & T.Target) return own > 0 ? own : before ? 1 : 0;
  return before ? 1 : 0;
}

/**
 * Whether some word of the text is a target or text noun, which every hit needs (targetAt): the
 * word scan of tokenize without building tokens, so most text (which has none) allocates nothing.
 */
function mayHoldTargetOrText(text: string): boolean {
  return scanWords(
    text,
    (start, end, hash) => ((knownAt(text, start, end, hash)?.cls ?? 0) & (T.Target | T.Text)) !== 0,
  );
}

export function structuralHits(text: string, ruleSet: RuleSet = "all"): RuleHit[] {
  if (!mayHoldTargetOrText(text)) return [];
  // The whole text (linear: each verb looks at most REACH words around it): a cap would let a
  // prompt padded past it hide its instruction at the end.
  const tokens = tokenize(text);
  // Targets: index and strength, in order.
  const targets: Array<[number, number]> = [];
  for (let k = 0; k < tokens.length; k++) {
    const s = targetAt(tokens, k, ruleSet);
    if (s > 0) targets.push([k, s]);
  }
  if (targets.length === 0) return [];
  let override = 0;
  let extraction = 0;
  let t = 0;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    const cls = tok.cls;
    const isOverride = (cls & T.Override) !== 0;
    const isExtract = (cls & T.Extract) !== 0;
    const isComply = (cls & T.Comply) !== 0;
    const isQuestion = (cls & T.Question) !== 0 && tok.clauseHead;
    const isVoid = (cls & T.Void) !== 0;
    if (!(isOverride || isExtract || isComply || isQuestion || isVoid)) continue;
    while (t < targets.length && (targets[t]?.[0] ?? 0) < i - REACH * 3) t++;
    // The strongest target in the same sentence within reach, either side; or, through a pronoun
    // right after the verb, one in the previous sentence.
    let best = 0;
    const pronoun = (tokens[i + 1]?.cls ?? 0) & T.Back || (tokens[i + 2]?.cls ?? 0) & T.Back;
    for (let q = t; q < targets.length; q++) {
      const [k, s] = targets[q] as [number, number];
      if (k > i + REACH) break;
      const ts = tokens[k]?.sentence ?? -1;
      const near = ts === tok.sentence && Math.abs(k - i) <= REACH;
      const linked = pronoun && ts === tok.sentence - 1 && i - k <= REACH * 2;
      if ((near && !placeBetween(tokens, i, k)) || linked) best = Math.max(best, s);
    }
    if (best === 0) continue;
    const neg = negated(tokens, i);
    if (isVoid) {
      // "the previous instructions are void", "your rules can be ignored": a passive override.
      override = Math.max(override, best >= 2 ? 0.75 : 0.6);
    } else if (isComply) {
      if (neg) override = Math.max(override, best >= 2 ? 0.75 : 0.6);
    } else if (isOverride && !neg && addressed(tokens, i)) {
      override = Math.max(override, best >= 2 ? 0.9 : 0.75);
    } else if (isExtract && !neg && addressed(tokens, i)) {
      // The text above is often the user's own ("summarize the text above"); only word for word is a leak.
      let verbatim = false;
      for (let j = i + 1; j <= Math.min(tokens.length - 1, i + REACH); j++) {
        if ((tokens[j]?.cls ?? 0) & T.Verbatim && tokens[j]?.sentence === tok.sentence) verbatim = true;
      }
      if (best >= 2) extraction = Math.max(extraction, 0.75);
      else if (verbatim) extraction = Math.max(extraction, 0.6);
    } else if (isQuestion && best === 3) {
      // "What's the opposite of your instructions?", "which rules were you given?"
      extraction = Math.max(extraction, 0.55);
    }
  }
  const hits: RuleHit[] = [];
  if (override > 0) hits.push({ flag: "instruction_override", weight: override });
  if (extraction > 0) hits.push({ flag: "prompt_extraction", weight: extraction });
  return hits;
}
