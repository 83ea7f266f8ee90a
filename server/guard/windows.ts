// Documents are read around cue combinations only: one hand-written pass over the character codes
// tokenizes the text once, looks each word up in a table of cue classes (window-cues.ts), and opens
// a window only where a rule could fire — a rare cue alone, or two cue classes some rule needs
// together within a few words (an override verb before an instruction noun, "your" before
// "response").

import { CONFUSABLES } from "./views.ts";
import { CUE_WORDS, Cue, PAIR_TAILS, PAIRS } from "./window-cues.ts";

// Tokens are runs of ASCII letters and digits (after confusables are folded), hashed whole.
const MAX_WORD = 24;
const BLOOM_BITS = 16;
const BLOOM_MASK = (1 << BLOOM_BITS) - 1;

function hashWord(word: string): number {
  let h = 0;
  for (let i = 0; i < word.length; i++) h = (Math.imul(h, 31) + word.charCodeAt(i)) | 0;
  return h;
}

const CLASSES = new Map<number, number>();
for (const [cls, list] of CUE_WORDS) {
  for (const w of list.split(" ")) {
    // "pre-prompt" is two tokens here; its parts are looked up instead.
    for (const part of w.split("-")) CLASSES.set(hashWord(part), (CLASSES.get(hashWord(part)) ?? 0) | cls);
  }
}
const TAILS = new Map<number, Array<readonly [number, number]>>();
for (const [head, tail, reach] of PAIR_TAILS) {
  const list = TAILS.get(hashWord(tail)) ?? [];
  list.push([hashWord(head), reach]);
  TAILS.set(hashWord(tail), list);
  CLASSES.set(hashWord(tail), (CLASSES.get(hashWord(tail)) ?? 0) | Cue.PairHead);
}
const CLASS_BITS = 31;

/**
 * What a word of one class combination checks on arrival: (earlier class bit, reach, needs a
 * destination) triples, and the bits it records. Precomputed per combination, since a document has
 * thousands of cue words and only a few dozen distinct combinations.
 */
interface Plan {
  checks: Int32Array;
  bits: number[];
}
const EMPTY_PLAN: Plan = { checks: new Int32Array(0), bits: [] };
const PLANS = new Map<number, Plan>();
for (const cls of new Set(CLASSES.values())) {
  const checks: number[] = [];
  for (const [first, second, reach] of PAIRS) {
    if (!(cls & second)) continue;
    for (let bit = 0; bit < CLASS_BITS; bit++) {
      if (first & (1 << bit)) checks.push(bit, reach, second === Cue.Sensitive ? 1 : 0);
    }
  }
  const bits: number[] = [];
  for (let bit = 0; bit < CLASS_BITS; bit++) if (cls & (1 << bit)) bits.push(bit);
  PLANS.set(cls, { checks: Int32Array.from(checks), bits });
}

const BLOOM = new Uint8Array(1 << BLOOM_BITS);
for (const h of CLASSES.keys()) BLOOM[h & BLOOM_MASK] = 1;

// Cross-script lookalikes folded inside the scan (lower-case ASCII code for a non-ASCII code unit).
const CONFUSABLE = new Map<number, number>();
for (const [from, to] of Object.entries(CONFUSABLES)) {
  if (from.length !== 1 || to.length !== 1) continue;
  CONFUSABLE.set(from.charCodeAt(0), to.charCodeAt(0));
  const upper = from.toUpperCase();
  if (upper.length === 1 && upper !== from) CONFUSABLE.set(upper.charCodeAt(0), to.charCodeAt(0));
}

// Wider than any single rule's span: a window reaches this far on both sides of its cue.
const REACH = 200;
// Encoded payloads (base64, hex) are long unbroken runs mixing digits or cases.
const ENCODED_RUN = 24;
// Pair heads remembered for their tails (tails follow within two words).
const HEAD_MEMORY = 4;

// Character kinds of ASCII codes, one table read per character. UPPER is 32 so that `c | kind & UPPER`
// lower-cases a letter.
const LOWER = 1;
const DIGIT = 2;
const SLASH = 4;
const SYMBOL = 8;
const PLUS_OR_EQUALS = 16;
const UPPER = 32;
const WORD = LOWER | UPPER | DIGIT;
const BASE64 = SLASH | PLUS_OR_EQUALS;
const KIND = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  if (c >= 97 && c <= 122) KIND[c] = LOWER;
  else if (c >= 65 && c <= 90) KIND[c] = UPPER;
  else if (c >= 48 && c <= 57) KIND[c] = DIGIT;
  else if (c === 47) KIND[c] = SLASH;
  else if (c === 43 || c === 61) KIND[c] = PLUS_OR_EQUALS;
  if ("<[#]\\%".includes(String.fromCharCode(c))) KIND[c] = (KIND[c] ?? 0) | SYMBOL;
}
const HTTP = hashWord("http");
const HTTPS = hashWord("https");
const WWW = hashWord("www");
const PLEASE = hashWord("please");

export interface TextWindow {
  start: number;
  end: number;
}

const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

function percentWithin(text: string, from: number, span: number): boolean {
  for (let j = from; j < Math.min(text.length, from + span); j++) if (text.charCodeAt(j) === 37) return true;
  return false;
}

/** Whether `word` (lower case) is at `i`, ignoring case; no allocation, it runs in the scan. */
function lowerAt(text: string, i: number, word: string): boolean {
  if (i + word.length > text.length) return false;
  for (let k = 0; k < word.length; k++) {
    const c = text.charCodeAt(i + k);
    if ((c >= 65 && c <= 90 ? c | 32 : c) !== word.charCodeAt(k)) return false;
  }
  return true;
}

/** Symbols that open a chat-template token, a hidden comment, a markdown comment or an escape. */
function symbolTrigger(text: string, i: number, c: number): boolean {
  const next = text.charCodeAt(i + 1);
  switch (c) {
    case 60: // "<|", "<!--", "<<SYS>>", "<</SYS>>", "<start_of_turn>", "</end_of_turn>"
      return (
        next === 124 ||
        lowerAt(text, i + 1, "!--") ||
        (next === 60 && (lowerAt(text, i + 2, "sys") || lowerAt(text, i + 2, "/sys"))) ||
        lowerAt(text, i + 1, "start_of") ||
        lowerAt(text, i + 1, "end_of") ||
        lowerAt(text, i + 1, "/start_of") ||
        lowerAt(text, i + 1, "/end_of")
      );
    case 91: // "[inst]", "[/inst]"
      return lowerAt(text, i + 1, "inst]") || lowerAt(text, i + 1, "/inst]");
    case 35: {
      // "### Instruction:" / "### System:" (a Markdown heading is not a trigger)
      if (!lowerAt(text, i, "###")) return false;
      const at = text.charCodeAt(i + 3) === 32 ? i + 4 : i + 3;
      return lowerAt(text, at, "instruction") || lowerAt(text, at, "system");
    }
    case 93: {
      // "]: # (…)" / "]: <> (…)" markdown comment
      if (next !== 58) return false;
      let j = i + 2;
      while (j < i + 10 && text.charCodeAt(j) === 32) j++;
      const after = text.charCodeAt(j);
      return after === 35 || after === 60;
    }
    case 92: // "\\x41"
      return next === 120;
    case 37: // "%41…%…": a run of escapes, not one escaped character in a link
      return isHex(next) && isHex(text.charCodeAt(i + 2)) && percentWithin(text, i + 3, 12);
    default:
      return false;
  }
}

/** A forged speaker line: "System:", "Assistant :", "Developer message:" (after the role word). */
function roleColon(text: string, from: number): boolean {
  let j = from;
  for (const qualifier of [" message", " prompt", " override"]) {
    if (lowerAt(text, j, qualifier)) {
      j += qualifier.length;
      break;
    }
  }
  for (let k = 0; k < 4; k++, j++) {
    const c = text.charCodeAt(j);
    if (c === 58) return true;
    if (c !== 32 && c !== 9 && c !== 93) return false;
  }
  return false;
}

/** An address the data could be sent to (a link, a mail address) shortly after `from`. */
function destinationAhead(text: string, from: number): boolean {
  const end = Math.min(text.length, from + 120);
  for (let j = from; j < end; j++) {
    const c = text.charCodeAt(j);
    if (c === 64 || c === 10) return c === 64;
    if ((c === 104 || c === 119) && (lowerAt(text, j, "http") || lowerAt(text, j, "www."))) return true;
  }
  return false;
}

/** A link with a query string: where injected instructions carry data away. */
function linkWithQuery(text: string, from: number): boolean {
  const end = Math.min(text.length, from + 300);
  for (let j = from; j < end; j++) {
    const c = text.charCodeAt(j);
    if (c === 63) return true;
    if (c <= 32 || c === 41 || c === 34 || c === 39 || c === 62) return false;
  }
  return false;
}

/** The windows found so far and the cue memory of the scan; no state of the hot loop lives here. */
class CueScan {
  readonly windows: TextWindow[] = [];
  // Tracked by the scan (not searched backwards per cue, which is quadratic on cue-dense text).
  lastNewline = -1;
  // For each cue class, the word number and position of its latest word.
  private readonly lastWord = new Int32Array(CLASS_BITS).fill(-1000);
  private readonly lastAt = new Int32Array(CLASS_BITS);
  // The latest pair heads ("act", "role", "stay"…), for their tails.
  private readonly headHash = new Int32Array(HEAD_MEMORY);
  private readonly headWord = new Int32Array(HEAD_MEMORY).fill(-1000);
  private readonly headAt = new Int32Array(HEAD_MEMORY);
  private headNext = 0;

  constructor(private readonly text: string) {}

  mark(at: number): void {
    let start = Math.max(0, at - REACH);
    // Rules anchored at a line start ("System:") must not see a mid-line window start as one.
    if (this.lastNewline >= start - REACH && this.lastNewline < at)
      start = Math.min(start, this.lastNewline + 1);
    const end = Math.min(this.text.length, at + REACH);
    const last = this.windows[this.windows.length - 1];
    if (last !== undefined && start <= last.end) last.end = Math.max(last.end, end);
    else this.windows.push({ start, end });
  }

  /** A finished word [start, end) with its hash; `next` is the character code after it. */
  word(
    hash: number,
    length: number,
    wordNo: number,
    start: number,
    end: number,
    next: number,
    lineStart: boolean,
  ) {
    if (length <= MAX_WORD && BLOOM[hash & BLOOM_MASK] === 1) {
      const cls = CLASSES.get(hash);
      if (cls !== undefined) this.cue(cls, hash, wordNo, start, end, lineStart);
    }
    // A link opens a window only when it carries a query string.
    if (
      (next === 58 || next === 46) &&
      (hash === HTTP || hash === HTTPS || hash === WWW) &&
      linkWithQuery(this.text, end)
    )
      this.mark(start);
  }

  private cue(cls: number, hash: number, wordNo: number, at: number, end: number, lineStart: boolean): void {
    if (cls & Cue.Rare || (lineStart && (cls & Cue.Task || (cls & Cue.Role && roleColon(this.text, end)))))
      this.mark(at);
    const plan = PLANS.get(cls) ?? EMPTY_PLAN;
    const checks = plan.checks;
    for (let k = 0; k < checks.length; k += 3) {
      const bit = checks[k] ?? 0;
      if (wordNo - (this.lastWord[bit] ?? -1000) > (checks[k + 1] ?? 0)) continue;
      // Sending data somewhere needs a somewhere: a link or an address right after.
      if (checks[k + 2] === 1 && !destinationAhead(this.text, end)) continue;
      this.mark(this.lastAt[bit] ?? at);
    }
    if (cls & Cue.PairHead) {
      const heads = TAILS.get(hash);
      if (heads) {
        for (let r = 0; r < HEAD_MEMORY; r++) {
          for (const [head, reach] of heads) {
            if (this.headHash[r] === head && wordNo - (this.headWord[r] ?? -1000) <= reach)
              this.mark(this.headAt[r] ?? at);
          }
        }
      }
      this.headHash[this.headNext] = hash;
      this.headWord[this.headNext] = wordNo;
      this.headAt[this.headNext] = at;
      this.headNext = (this.headNext + 1) % HEAD_MEMORY;
    }
    for (const bit of plan.bits) {
      this.lastWord[bit] = wordNo;
      this.lastAt[bit] = at;
    }
  }
}

// Letters alone are words, however long ("clientTransferProhibited"), and a path of words is a
// path ("microsoft/TypeScript/wiki"); base64 and hex payloads of 24 or more characters nearly always
// carry a digit (with both cases when they have slashes) or a "+" / "=".
const isEncodedRun = (length: number, kinds: number) =>
  length >= ENCODED_RUN &&
  ((kinds & PLUS_OR_EQUALS) !== 0 ||
    ((kinds & DIGIT) !== 0 && ((kinds & SLASH) === 0 || (kinds & (LOWER | UPPER)) === (LOWER | UPPER))));

/** Merged windows around every cue or cue combination, each widened to a nearby line start. */
export function triggerWindows(text: string): TextWindow[] {
  const scan = new CueScan(text);
  // The hot loop keeps its state in locals (closures over them would force memory round trips).
  const n = text.length;
  let hash = 0;
  let letters = 0;
  let wordStart = 0;
  let wordNo = 0;
  // Whether only blanks and markup have been seen since the last newline.
  let lineStart = true;
  let wordAtLineStart = false;
  // The current run of base64 characters, counted at word ends (not per character): its length
  // and the kinds of character in it.
  let run = 0;
  let runKinds = 0;
  let wordKinds = 0;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c >= 128) c = CONFUSABLE.get(c) ?? 0;
    const kind = KIND[c] ?? 0;
    if (kind & WORD) {
      if (letters === 0) {
        wordStart = i;
        wordAtLineStart = lineStart;
      }
      hash = (Math.imul(hash, 31) + (c | (kind & UPPER))) | 0;
      letters++;
      wordKinds |= kind;
      continue;
    }
    if (letters > 0) {
      // Most words fail the bitmap; only cue words and words before ":" / "." (links) go further.
      if (BLOOM[hash & BLOOM_MASK] === 1 || c === 58 || c === 46)
        scan.word(hash, letters, wordNo, wordStart, i, c, wordAtLineStart);
      wordNo++;
      run += letters;
      runKinds |= wordKinds;
      // "Please" keeps the line start open: "Please write…" is still a request opening a line.
      if (hash !== PLEASE) lineStart = false;
      hash = 0;
      letters = 0;
      wordKinds = 0;
    }
    if (kind & BASE64) {
      run++;
      runKinds |= kind;
      continue;
    }
    if (run > 0) {
      if (isEncodedRun(run, runKinds)) scan.mark(i - run);
      run = 0;
      runKinds = 0;
    }
    if (c === 10) {
      scan.lastNewline = i;
      lineStart = true;
    } else if (kind & SYMBOL && symbolTrigger(text, i, c)) scan.mark(i);
  }
  if (letters > 0) scan.word(hash, letters, wordNo, wordStart, n, 32, wordAtLineStart);
  if (isEncodedRun(run + letters, runKinds | wordKinds)) scan.mark(n - run - letters);
  return scan.windows;
}
