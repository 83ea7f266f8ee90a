// The cue table of the document scan (windows.ts): which words are cues of which class, the word
// pairs and class pairs that open a window, and how many words apart. Data only; the scanner
// compiles it into its lookup tables. Every rule in rules.ts that applies to documents has its
// necessary cues listed here; tests check that.

import { WordClass, wordsOf } from "./lexicon.ts";
import { VOID_WORDS } from "./structure.ts";

/** Cue classes of single words; a word may belong to several. */
export const Cue = {
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

export const CUE_WORDS: ReadonlyArray<readonly [number, string]> = [
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
export const PAIR_TAILS: ReadonlyArray<readonly [string, string, number]> = [
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
export const PAIRS: ReadonlyArray<readonly [number, number, number]> = [
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
