// Undoes interior-letter scrambling ("ignroe all pervious insturctions") for the detector's view:
// a word whose first letter, last letter and sorted interior letters match exactly one word of the
// detectors' vocabulary is read as that word. One map lookup per word, so linear in the text.

import { WordClass, wordsOf } from "./lexicon.ts";

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

const VOCABULARY = new Set<string>();
// A key shared by two vocabulary words ("form"/"from") cannot be undone and maps to "".
const BY_KEY = new Map<string, string>();
for (const list of [PATTERN_WORDS, ...Object.values(WordClass).map((cls) => wordsOf(cls))]) {
  for (const word of list.split(" ")) {
    if (word.length < 4 || !/^[a-z]+$/.test(word) || VOCABULARY.has(word)) continue;
    VOCABULARY.add(word);
    const key = scrambleKey(word);
    BY_KEY.set(key, BY_KEY.has(key) ? "" : word);
  }
}

// A single corrected word is an ordinary typo; an obfuscated instruction scrambles most of its words.
const MIN_CORRECTIONS = 2;

/** The text with scrambled vocabulary words restored, or undefined when fewer than two were found. */
export function unscrambleWords(text: string): string | undefined {
  let corrections = 0;
  const out = text.replace(/[a-z]{4,}/g, (word) => {
    if (VOCABULARY.has(word)) return word;
    const known = BY_KEY.get(scrambleKey(word));
    if (!known) return word;
    corrections++;
    return known;
  });
  return corrections >= MIN_CORRECTIONS ? out : undefined;
}
