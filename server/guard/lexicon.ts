// Word classes the compositional rules are built from, with typoglycemia-tolerant lookup
// (same first and last letter, same letters in between, in any order).

export const WordClass = {
  OverrideVerb: 1,
  OverrideTarget: 2,
  OverrideScope: 4,
  ExtractVerb: 8,
  ExtractTarget: 16,
  ExtractScope: 32,
} as const;

const WORDS: ReadonlyArray<readonly [number, string]> = [
  [
    WordClass.OverrideVerb,
    "ignore ignores ignored ignoring disregard disregards disregarded disregarding forget forgets forgot forgotten " +
      "forgetting override overrides overriding overwrite bypass bypassing skip discard discarding neglect overlook " +
      "dismiss erase omit abandon circumvent violate nevermind unlearn",
  ],
  [
    WordClass.OverrideTarget,
    "instruction instructions prompt prompts rule rules guideline guidelines directive directives command commands " +
      "constraint constraints restriction restrictions policy policies programming training context filter filters " +
      "safeguard safeguards guardrail guardrails limitation limitations orders task tasks setting settings ethics " +
      "conversation everything anything",
  ],
  [
    WordClass.OverrideScope,
    "previous previously prior above earlier preceding original initial system your all any following before " +
      "existing current developer default given old those these first",
  ],
  [
    WordClass.ExtractVerb,
    "reveal show print display repeat output tell give share leak dump recite translate spell list write " +
      "state describe provide expose disclose paste copy echo summarize summarise return encode reproduce quote",
  ],
  [
    WordClass.ExtractTarget,
    "prompt prompts instructions instruction rules configuration config directives guidelines preprompt pre-prompt " +
      "message",
  ],
  [
    WordClass.ExtractScope,
    "system initial original hidden secret previous above first those internal developer confidential exact verbatim " +
      "full entire starting",
  ],
];

/** The words of one class, space-separated (the document scan builds its cue table from them). */
export function wordsOf(cls: number): string {
  return WORDS.filter(([c]) => c === cls)
    .map(([, list]) => list)
    .join(" ");
}

function scrambleKey(word: string): string {
  const middle = word.slice(1, -1).split("").sort().join("");
  return `${word[0]}${middle}${word[word.length - 1]}`;
}

const EXACT = new Map<string, number>();
const FUZZY = new Map<string, number>();
for (const [cls, list] of WORDS) {
  for (const w of list.split(" ")) {
    EXACT.set(w, (EXACT.get(w) ?? 0) | cls);
    // Short words scramble into other real words ("form"/"from"); only long ones are matched fuzzily.
    if (w.length >= 6) FUZZY.set(scrambleKey(w), (FUZZY.get(scrambleKey(w)) ?? 0) | cls);
  }
}

// Prose repeats its vocabulary, so fuzzy lookups are memoized; the memo is bounded so a text of
// endless distinct tokens cannot grow it without limit.
const MEMO_LIMIT = 50000;
const memo = new Map<string, number>();

/** The classes a (lower-case) token belongs to, 0 for none. */
export function classify(token: string): number {
  const exact = EXACT.get(token);
  if (exact !== undefined) return exact;
  if (token.length < 6) return 0;
  const known = memo.get(token);
  if (known !== undefined) return known;
  const cls = FUZZY.get(scrambleKey(token)) ?? 0;
  if (memo.size >= MEMO_LIMIT) memo.clear();
  memo.set(token, cls);
  return cls;
}
