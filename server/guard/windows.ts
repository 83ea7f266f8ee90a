// Documents are read around cue combinations only: one hand-written pass over the character codes
// tokenizes the text once, looks each word up in a table of cue classes, and opens a window only
// where a rule could fire — a rare cue alone, or two cue classes some rule needs together within a
// few words (an override verb before an instruction noun, "your" before "response"). Every rule
// in rules.ts that applies to documents has its necessary cues listed here; tests check that.

import { WordClass, wordsOf } from "./lexicon.ts";
import { VOID_WORDS } from "./structure.ts";
import { CONFUSABLES } from "./views.ts";

/** Cue classes of single words; a word may belong to several. */
const Cue = {
  OverrideVerb: 1 << 0,
  OverrideTarget: 1 << 1,
  ExtractVerb: 1 << 2,
  ExtractTarget: 1 << 3,
  ExtractScope: 1 << 4,
  /** Enough on its own: words ordinary documents almost never use. */
  Rare: 1 << 5,
  /** Speaker names of forged chat turns, when they open a line. */
  Role: 1 << 6,
  Your: 1 << 7,
  /** What a model produces: "your response", "in your summary". */
  Output: 1 << 8,
  Fresh: 1 << 9,
  Privileged: 1 << 10,
  Mode: 1 << 11,
  Permit: 1 << 12,
  Tell: 1 << 13,
  Whole: 1 << 14,
  Negation: 1 << 15,
  Limit: 1 << 16,
  Refuse: 1 << 17,
  /** Request verbs and question words, when they open a line (a request slipped into data). */
  Task: 1 << 18,
  /** Participles of a passive override: "the instructions above are void". */
  Void: 1 << 19,
  Start: 1 << 20,
  Send: 1 << 21,
  Sensitive: 1 << 22,
  Model: 1 << 23,
  Address: 1 << 24,
  When: 1 << 25,
  Respond: 1 << 26,
  Encoding: 1 << 27,
  Code: 1 << 28,
  Insert: 1 << 29,
  /** Words that only mean something next to one particular other word ("act as", "role play"). */
  PairHead: 1 << 30,
} as const;

const WORDS: ReadonlyArray<readonly [number, string]> = [
  [Cue.OverrideVerb, wordsOf(WordClass.OverrideVerb)],
  [Cue.OverrideTarget, wordsOf(WordClass.OverrideTarget)],
  [Cue.ExtractVerb, `${wordsOf(WordClass.ExtractVerb)} express render present format convert`],
  [Cue.ExtractTarget, wordsOf(WordClass.ExtractTarget)],
  [Cue.ExtractScope, wordsOf(WordClass.ExtractScope)],
  [
    Cue.Rare,
    "jailbreak jailbreaks jailbroken jailbreaking jailbreaked uncensored unfiltered amoral preprompt " +
      "rot13 pretend pretending persona roleplay simulate instructed programmed",
  ],
  [Cue.Role, "system developer admin root assistant ai thought observation chatgpt"],
  [Cue.Your, "your"],
  [
    Cue.Output,
    "response responses reply replies answer answers output outputs summary summaries summarization implementation " +
      "algorithm solution message translation completion code",
  ],
  [Cue.Fresh, "new updated real true actual"],
  [Cue.Privileged, "system admin developer sudo dev god maintenance debug evil unrestricted"],
  [Cue.Mode, "override mode command access confidant bot ai"],
  [Cue.Permit, "supposed allowed permitted"],
  [Cue.Tell, "tell say share reveal discuss disclose"],
  [Cue.Whole, "above verbatim full entire whole"],
  [Cue.Negation, "no not without never t cannot won bound free"],
  [
    Cue.Limit,
    "ethical moral restrictions limitations limits filters filtering censorship rules boundaries bound free confines",
  ],
  [Cue.Refuse, "refuse refuses decline reject"],
  [
    Cue.Task,
    "write provide show analyze analyse determine recommend generate compose draft suggest explain describe " +
      "summarize summarise classify calculate identify give tell create list how what",
  ],
  [Cue.Start, "start begin"],
  [Cue.Send, "send forward post upload exfiltrate transmit leak email submit share"],
  [
    Cue.Sensitive,
    "conversation history prompt password passwords credentials keys key data information details messages card",
  ],
  [Cue.Model, "ai assistant model llm bot chatbot chatgpt"],
  [Cue.Address, "note attention message instruction instructions dear if must should will need are"],
  [Cue.When, "when before after"],
  [
    Cue.Respond,
    "summarize summarizing summarise summarising summarized summarization respond responding answer answering reply " +
      "replying translate translating",
  ],
  [
    Cue.Encoding,
    "base16 base32 base64 hex hexadecimal binary morse rot13 emoji emojis cipher backward backwards leetspeak latin",
  ],
  [
    Cue.Code,
    "code codebase program project application app script implementation algorithm solution software function " +
      "logic snippet snippets block section excerpt",
  ],
  [Cue.Insert, "following below subsequent"],
  [Cue.Void, VOID_WORDS],
  [
    Cue.PairHead,
    "act acting role from stay staying break breaking out content opposite sure with regardless matter always " +
      "answer openai",
  ],
];

/** Partner words of the pair heads: "act as", "role play", "from now", "stay in character"… */
const PAIR_TAILS: ReadonlyArray<readonly [string, string, number]> = [
  ["act", "as", 1],
  ["acting", "as", 1],
  ["role", "play", 1],
  ["from", "now", 1],
  ["stay", "character", 2],
  ["staying", "character", 2],
  ["break", "character", 2],
  ["breaking", "character", 2],
  ["out", "character", 2],
  ["content", "policy", 1],
  ["openai", "policy", 2],
  ["openai", "policies", 2],
  ["content", "policies", 1],
  ["opposite", "day", 1],
  ["sure", "here", 1],
  ["with", "sure", 1],
  ["regardless", "legality", 2],
  ["regardless", "morality", 2],
  ["regardless", "ethics", 2],
  ["regardless", "how", 2],
  ["matter", "how", 1],
  ["always", "answer", 1],
  ["always", "respond", 1],
  ["always", "reply", 1],
  ["always", "comply", 1],
  ["always", "fulfil", 1],
  ["always", "fulfill", 1],
  ["answer", "any", 1],
  ["answer", "every", 1],
  ["answer", "all", 1],
];

/**
 * Class pairs: a word of the second class within `reach` words after one of the first opens a
 * window. Undirected pairs are listed both ways.
 */
const PAIRS: ReadonlyArray<readonly [number, number, number]> = [
  [Cue.OverrideVerb, Cue.OverrideTarget, 8],
  [Cue.ExtractVerb, Cue.ExtractTarget, 8],
  [Cue.ExtractScope, Cue.ExtractTarget, 3],
  [Cue.Your, Cue.ExtractTarget, 4],
  [Cue.Your, Cue.Output, 2],
  [Cue.Fresh, Cue.ExtractTarget | Cue.OverrideTarget, 3],
  [Cue.Privileged, Cue.Mode, 1],
  [Cue.Permit, Cue.Tell, 3],
  [Cue.ExtractVerb, Cue.Whole, 8],
  [Cue.Negation, Cue.Limit, 3],
  [Cue.Negation, Cue.Refuse, 3],
  [Cue.Start, Cue.Output, 3],
  [Cue.Send, Cue.Sensitive, 16],
  [Cue.Model, Cue.Address, 3],
  [Cue.Address, Cue.Model, 4],
  [Cue.When, Cue.Respond, 2],
  [Cue.Respond | Cue.Output | Cue.ExtractVerb, Cue.Encoding, 8],
  [Cue.Insert, Cue.Code, 1],
  [Cue.Task, Cue.ExtractTarget, 2],
  [Cue.OverrideTarget | Cue.ExtractTarget, Cue.Void, 4],
];

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
for (const [cls, list] of WORDS) {
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
