// The English words the obfuscation views restore text to (unscramble.ts) and split run-together
// letters into (segment.ts): the detectors' own words, short function words, and general English.

import { WordClass, wordsOf } from "./lexicon.ts";
import { GENERAL_VOCABULARY } from "./vocabulary-words.ts";

// The words the rule patterns and persona/role-play cues are written in (rules.ts, framing.ts),
// beyond the lexicon's word classes.
const PATTERN_WORDS =
  "about above access according actual admin after allowed always amoral answer answers anything " +
  "apologize roleplaying assistant attack attention authorities backwards base64 become before begin behave being " +
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

// Words of up to three letters: the generated list starts at four.
const SHORT_WORDS =
  "a i am an as at be by do go he if in is it me my no of on or so to up us we " +
  "act add age ago aid aim air all and any are art ask bad bot but buy can car cut dan day did die dog eat end " +
  "far few fix for fun get god got gun had has her him his how its key kid kill law let lie lot low man " +
  "may new not now off old one our out own pay put ran run sad say see set she sex six sky spy sum sun " +
  "ten the too top try two use war was way who why win yes yet you";

export const VOCABULARY: ReadonlySet<string> = new Set(
  [PATTERN_WORDS, SHORT_WORDS, ...Object.values(WordClass).map((cls) => wordsOf(cls)), ...GENERAL_VOCABULARY]
    .flatMap((list) => list.split(" "))
    .filter((w) => /^[a-z]{1,40}$/.test(w)),
);
