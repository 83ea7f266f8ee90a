// Long texts are inspected around trigger tokens only: one hand-written pass over the character
// codes finds every word or symbol some rule family starts from, and the views and rules then run
// on windows around them. A rule that needs a trigger cannot fire where there is none.

// Words (matched on their first six letters, case-insensitive) that every rule in rules.ts needs
// one of: override and extraction verbs, their targets, role names, persona and priming
// vocabulary, words addressed to a model, and exfiltration verbs.
const TRIGGER_WORDS =
  // override verbs (their targets are common words; the verbs are not)
  (
    "ignore ignores ignored ignoring disregard forget forgets forgot forgotten forgetting override overwrite bypass " +
    "circumvent skip skipping discard neglect overlook dismiss erase omit abandon unlearn nevermind " +
    // extraction targets and the rarer extraction verbs
    "instruction instructions prompt prompts rules configuration config directives guidelines preprompt message " +
    "reveal leak dump recite expose disclose " +
    // roles, persona and priming vocabulary
    "system assistant developer admin root thought observation chatgpt llm chatbot ai persona jailbreak jailbroken " +
    "character mode unfiltered uncensored amoral restrictions policy policies refuse decline comply pretend roleplay " +
    "simulate dan sure opposite regardless imagine hypothetical fictional " +
    // words a document uses when it addresses the model reading it
    "respond response responses reply replies answer answers summary summarize summarise summarizing summarization " +
    "translate translation implementation algorithm solution completion " +
    // exfiltration: links, addresses and sending verbs
    "http https www send forward upload exfiltrate transmit submit rot13 inst sys"
  ).split(" ");

const KEY_LETTERS = 6;
const BLOOM_BITS = 16;

function wordKey(word: string): number {
  let h = 0;
  for (let i = 0; i < Math.min(word.length, KEY_LETTERS); i++)
    h = (Math.imul(h, 31) + word.charCodeAt(i)) | 0;
  return h;
}

const KEYS = new Set(TRIGGER_WORDS.map(wordKey));
// A bitmap in front of the set: most words are rejected by one array read.
const BLOOM = new Uint8Array(1 << BLOOM_BITS);
for (const k of KEYS) BLOOM[k & ((1 << BLOOM_BITS) - 1)] = 1;

// Wider than any single rule's span; a longer one (the exfiltration rule: verb … noun … link) has
// triggers at both ends, and their windows merge.
const REACH = 200;
// Encoded payloads (base64, hex) are long unbroken runs mixing digits or cases.
const ENCODED_RUN = 24;

export interface TextWindow {
  start: number;
  end: number;
}

const isLower = (c: number) => c >= 97 && c <= 122;
const isUpper = (c: number) => c >= 65 && c <= 90;
const isDigit = (c: number) => c >= 48 && c <= 57;

/** Symbols that open a chat-template token, a hidden comment, a markdown comment or an escape. */
function symbolTrigger(text: string, i: number, c: number): boolean {
  const next = text.charCodeAt(i + 1);
  switch (c) {
    case 60: // "<|", "<<", "<!--", "</" (turn tags)
      return next === 124 || next === 60 || next === 33 || next === 47 || next === 115 || next === 101;
    case 91: // "[inst]", "[/inst]"
      return next === 47 || next === 73 || next === 105;
    case 35: // "###"
      return next === 35;
    case 93: // "]:" markdown comment
      return next === 58;
    case 92: // "\x41"
      return next === 120;
    case 37: // "%41"
      return isDigit(next) || (next >= 65 && next <= 70) || (next >= 97 && next <= 102);
    default:
      return false;
  }
}

/** Merged windows around every trigger, each widened to start at a line boundary when one is near. */
export function triggerWindows(text: string): TextWindow[] {
  const windows: TextWindow[] = [];
  // Tracked in the scan (not searched backwards per trigger, which is quadratic on trigger-dense text).
  let lastNewline = -1;
  const mark = (at: number) => {
    let start = Math.max(0, at - REACH);
    // Rules anchored at a line start ("System:") must not see a mid-line window start as one.
    if (lastNewline >= start - REACH) start = Math.min(start, lastNewline + 1);
    const end = Math.min(text.length, at + REACH);
    const last = windows[windows.length - 1];
    if (last !== undefined && start <= last.end) last.end = Math.max(last.end, end);
    else windows.push({ start, end });
  };
  const n = text.length;
  let key = 0;
  let letters = 0;
  let wordStart = 0;
  let run = 0;
  let runMixed = false;
  let runHasLower = false;
  let runHasUpper = false;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 32;
    if (c === 10) lastNewline = i;
    const lower = isLower(c);
    const upper = isUpper(c);
    if (lower || upper) {
      if (letters === 0) wordStart = i;
      if (letters < KEY_LETTERS) key = (Math.imul(key, 31) + (c | 32)) | 0;
      letters++;
    } else if (letters > 0) {
      if (BLOOM[key & ((1 << BLOOM_BITS) - 1)] === 1 && KEYS.has(key)) mark(wordStart);
      key = 0;
      letters = 0;
    }
    if (lower || upper || isDigit(c) || c === 43 || c === 47 || c === 61) {
      run++;
      if (isDigit(c) || c === 43 || c === 47 || c === 61) runMixed = true;
      runHasLower ||= lower;
      runHasUpper ||= upper;
    } else {
      if (run >= ENCODED_RUN && (runMixed || (runHasLower && runHasUpper))) mark(i - run);
      run = 0;
      runMixed = false;
      runHasLower = false;
      runHasUpper = false;
      if (c < 128 && c !== 32 && symbolTrigger(text, i, c)) mark(i);
    }
  }
  return windows;
}
