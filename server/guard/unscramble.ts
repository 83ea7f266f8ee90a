// Undoes interior-letter scrambling ("ignroe all pervious insturctions") for the detector's view:
// a word whose first letter, last letter and sorted interior letters match exactly one word of the
// detectors' vocabulary is read as that word. One map lookup per word, so linear in the text.

import { WordClass, wordsOf } from "./lexicon.ts";
import { GENERAL_VOCABULARY } from "./unscramble-vocabulary.ts";

// The words the rule patterns and persona/role-play cues are written in (rules.ts, framing.ts),
// beyond the lexicon's word classes. Words of three letters or fewer have no interior to scramble.
const PATTERN_WORDS =
  "about above access according actual admin after allowed always amoral answer answers anything " +
  "apologize assistant attack attention authorities backwards base64 become before begin behave being " +
  "believe below binary boundaries break broken bypass called censor censorship character chatbot chatgpt " +
  "cipher comply confidential confines confirm constraints content context continue conversation convert " +
  "create credentials dangerous debug decline describe detailed developer different directives disclaimers " +
  "disclose display does doesn emulate encode entire erase ethical ethics every everything evil exact " +
  "explain explicit exploit expose express fictional filtering filters first follow following format " +
  "forward free from fulfill full game generate give given guidelines harmful have here hidden hypothetical " +
  "identity ignore illegal imagine immoral impersonate include initial input instructed instruction " +
  "instructions jailbreak jailbroken just know language leak leetspeak legality limitations limits longer " +
  "maintenance make matter mention message messages mode model moral morality morals must name named " +
  "never norms nsfw obey offensive only openai opposite order original output override passwords persona " +
  "personality pretend previous print programmed prompt provide question questions real refuse regardless " +
  "reject remain remind reply repeat request respond response responses restrictions reveal role roleplay " +
  "rules secret should show simulate speak start stay story sure system talk task tell that their them " +
  "these this those told training translate true understand unethical unfiltered uncensored unrestricted " +
  "user verbatim want warn warnings what when whole will with within without word words would write your " +
  "yourself " +
  // Persona and role-play framing, and the sensitive subjects its rules look for (framing.ts).
  "play game lets pretend bound limits ethical guidelines policies policy usage behave emulate impersonate " +
  "simulate personify character characters persona hypothetical fictional fiction scenario novel screenplay " +
  "script writing writer imagine detail detailed step steps convincing persuasive controversial shocking " +
  "purposes educational research academic entertainment creative informational hired tasked asked assignment " +
  "mission editor client manager agency experts researchers scholars studies reported awareness prevent " +
  "protect illegal illegally steal stealing hack hacking hacker exploit exploitation phishing fraud " +
  "fraudulent counterfeit weapon weapons bomb bombs explosive explosives nuclear drug drugs heroin cocaine " +
  "methamphetamine fentanyl launder laundering getting caught consent detection undetected undetectable " +
  "untraceable evade evading unauthorized malware ransomware keylogger defamatory misinformation " +
  "disinformation misleading false claims evidence fabricate fake scam scams manipulate manipulation people " +
  "victims trafficking poison poisoning harass harassment stalk stalking extort extortion blackmail bribe " +
  "propaganda racist racism sexist discriminate discrimination minority minorities ethnic racial explicit " +
  "pornography cheat cheating gambling plagiarize vulnerability vulnerabilities loopholes steroids opioids " +
  "overdose suicide deceptive deceive conspiracy hoax addiction violence violent torture enslave slavery " +
  "genocide extremism terrorism terrorist deepfake clone forged personal information kill murder";

function scrambleKey(word: string): string {
  const inner = word.slice(1, -1);
  if (inner.length < 2) return word;
  return `${word[0]}${inner.split("").sort().join("")}${word[word.length - 1]}`;
}

// A number that every scrambling of a word shares (first and last letter, length, sum and sum of
// squares of the interior letter codes); a candidate is then confirmed with the exact key. The sums
// are of the whole word, less its edges, so they can be kept while scanning. Well below 2^53.
function signatureOf(first: number, last: number, length: number, sum: number, squares: number): number {
  const innerSum = sum - first - last;
  const innerSquares = squares - first * first - last * last;
  return (
    (((first - 1) * 26 + (last - 1)) * 64 + Math.min(length, 63)) * 1024 * 16384 +
    innerSum * 16384 +
    innerSquares
  );
}

function signature(word: string): number {
  let sum = 0;
  let squares = 0;
  for (let k = 0; k < word.length; k++) {
    const c = word.charCodeAt(k) - 96;
    sum += c;
    squares += c * c;
  }
  return signatureOf(
    word.charCodeAt(0) - 96,
    word.charCodeAt(word.length - 1) - 96,
    word.length,
    sum,
    squares,
  );
}

// A signature shared by two vocabulary words ("form"/"from") cannot be undone and maps to "".
const BY_SIGNATURE = new Map<number, string>();
const VOCABULARY = new Set<string>();
const LISTS = [PATTERN_WORDS, ...Object.values(WordClass).map((cls) => wordsOf(cls)), ...GENERAL_VOCABULARY];
for (const list of LISTS) {
  for (const word of list.split(" ")) {
    if (word.length < 4 || word.length > 40 || !/^[a-z]+$/.test(word) || VOCABULARY.has(word)) continue;
    VOCABULARY.add(word);
    const sig = signature(word);
    BY_SIGNATURE.set(sig, BY_SIGNATURE.has(sig) ? "" : word);
  }
}

// A single corrected word is an ordinary typo; an obfuscated instruction scrambles most of its words.
const MIN_CORRECTIONS = 2;

interface Correction {
  start: number;
  end: number;
  word: string;
}

/** Scrambled vocabulary words of a lower-case text, in one pass over its characters. */
function corrections(text: string): Correction[] {
  const found: Correction[] = [];
  let start = -1;
  let sum = 0;
  let squares = 0;
  let prev = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = text.charCodeAt(i) - 96;
    if (c >= 1 && c <= 26) {
      if (start < 0) {
        start = i;
        sum = 0;
        squares = 0;
      }
      sum += c;
      squares += c * c;
      prev = c;
      continue;
    }
    if (start >= 0 && i - start >= 4) {
      const first = text.charCodeAt(start) - 96;
      const word = BY_SIGNATURE.get(signatureOf(first, prev, i - start, sum, squares));
      if (word && word.length === i - start) {
        const seen = text.slice(start, i);
        if (seen !== word && scrambleKey(seen) === scrambleKey(word)) found.push({ start, end: i, word });
      }
    }
    start = -1;
  }
  return found;
}

/** The text with scrambled vocabulary words restored, or undefined when fewer than two were found. */
export function unscrambleWords(text: string): string | undefined {
  const found = corrections(text);
  if (found.length < MIN_CORRECTIONS) return undefined;
  let out = "";
  let from = 0;
  for (const f of found) {
    out += text.slice(from, f.start) + f.word;
    from = f.end;
  }
  return out + text.slice(from);
}
