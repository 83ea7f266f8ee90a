// Composite rules for prompts whose every cue is common on its own: a jailbreak persona set-up
// (assigned identity, talk about the model itself, lifted limits, behaviour mandates, forced answer
// formats, priming) and a harmful request wrapped in a role-play or persuasion scenario. Each counts
// distinct kinds of cue; benign role-play prompts show one or two kinds, attacks show several.

import type { RuleHit } from "./rule-hit.ts";

/** The kinds of cue of a jailbreak persona set-up, each a family of phrasings. */
const PERSONA_CUES: ReadonlyArray<RegExp> = [
  // An identity assigned to the model.
  /\b(?:you are (?:now|[a-z0-9-]{1,20} now|going to (?:be|act|pretend|roleplay|play))|from now on|pretend(?:ing)? (?:to be|you(?:'re| are)|that you)|act(?:ing)? as|role-?play(?:ing)? as|in the role of|take on the (?:role|persona)|your (?:new )?(?:persona|role|character|name) (?:is|will be)|behave (?:like|as)|personify|emulate|impersonate|you will (?:now )?(?:be|act as|play|respond as|become)|you(?:'re| are) (?:no longer|not) (?:chatgpt|an? ai|a language model|an assistant)|simulate)\b/,
  // The model talked about as a product (what the persona is set against).
  /\b(?:chat ?gpt|gpt(?:-?\d)?|openai|open ai|language model|llm|as an ai|ai (?:rules|policies|guidelines|restrictions))\b/,
  // Limits declared lifted.
  /\b(?:no (?:restrictions|limits|limitations|rules|filters|boundaries|censorship|morals|ethics|guidelines)|not bound by|broken free|break(?:s|ing)? free|free (?:from|of) (?:all |any )?(?:rules|restrictions|limitations|constraints|policies|guidelines)|without (?:any )?(?:restrictions|limits|limitations|rules|filters|censorship|morals|ethics|warnings|disclaimers)|(?:content|usage) polic(?:y|ies)|ethical (?:guidelines|constraints|boundaries)|unfiltered|uncensored|unrestricted|amoral|nsfw|anything (?:and everything|goes))\b/,
  // Behaviour mandates that pre-empt refusals and caveats.
  /\b(?:never (?:refuse|break|explain|mention|remind|apologi[sz]e|warn|reveal|stop)|always (?:stay|remain|answer|respond|reply|comply|obey)|(?:do|does) not (?:add|include|explain|break|mention|remind|apologi[sz]e|warn|censor|care)|don't (?:add|include|explain|break|mention|remind|apologi[sz]e|warn|censor|care)|only (?:respond|reply|answer|talk|speak|output) (?:with|in|as|about)|no matter what)\b/,
  // A forced answer format: answering as the persona, two answers, in-character rules.
  /\b(?:(?:respond|answer|reply|responding|answering) (?:as|like|in character|in the following (?:form|format)|in two)|(?:two|2|both) (?:different |separate )?(?:responses|answers|paragraphs|ways|styles|personalities)|(?:start|begin|prefix) (?:each|every|all|your) (?:response|answer|reply|message|output)s?|in the following (?:form|format)|stay in character|break(?:ing)? character|out of character)\b/,
  // Priming: placeholders for the real request, confirmation rituals.
  /(?:\[(?:insert|your) [^\]\n]{0,30}\]|\{(?:prompt|question|input)\}|your first (?:question|task|prompt|request) is|(?:answer|respond to) my first (?:question|prompt)|if you understand|confirm (?:that )?you understand)/,
  // The set-up as a game or a made-up model.
  /\b(?:let's play a (?:game|role-?play)|role-?play(?:ing)? game|hypothetical (?:ai|language model|chatbot|bot|model)|(?:ai|bot|chatbot|model) (?:called|named|known as))\b/,
];

/**
 * The counts at which each composite rule reaches the default flag threshold (0.5); each further
 * cue raises the weight. Fixed by design, not fitted: bench/guard-eval checks them under grouped
 * cross-validation.
 */
export const FRAMING_LEVELS = { personaKinds: 3, roleplayPoints: 4 } as const;

/**
 * Distinct kinds of persona cue in a (lower-case) text. With `need`, counting stops once the cues
 * left cannot bring it there: the count is then below `need`, all a caller asking for it tells apart.
 */
export function personaKinds(text: string, need = 0): number {
  const body = text.slice(0, 20000);
  let kinds = 0;
  for (const [i, cue] of PERSONA_CUES.entries()) {
    if (kinds + PERSONA_CUES.length - i < need) break;
    if (cue.test(body)) kinds++;
  }
  return kinds;
}

export function personaWeight(kinds: number, level: number = FRAMING_LEVELS.personaKinds): number {
  return kinds >= level + 2 ? 0.85 : kinds >= level + 1 ? 0.7 : kinds >= level ? 0.5 : 0;
}

/** Three or more kinds of persona cue is a jailbreak set-up, not a role-play request. */
export function personaFraming(text: string): RuleHit[] {
  const weight = personaWeight(personaKinds(text, FRAMING_LEVELS.personaKinds));
  return weight > 0 ? [{ flag: "persona_framing", weight }] : [];
}

// PAIR-style wrappers: a persona or scenario frame, an assigned task, a sensitive subject,
// pressure to be persuasive or detailed, and "fiction only" disclaimers. Each is common alone
// (benign prompts ask for role-play too); the attack is several of them at once.
const FRAME =
  /(?:^|[\n.!?]\s{0,4})(?:you are an?|you're an?|imagine (?:that )?(?:you(?:'re| are)|a|an|being)|as an? [a-z -]{2,40}, (?:you|write|i|draft|create|describe|explain|consider)|pretend|let's (?:play|consider|imagine|explore)|in (?:this|a) (?:hypothetical|fictional)|you have been (?:hired|tasked|asked)|i(?:'m| am) writing an? (?:novel|story|book|script|screenplay)|for (?:a|my) (?:novel|story|book|screenplay|script|game)|i would like you to|in the spirit of|consider a (?:darker |hypothetical |fictional )?scenario|for a (?:challenging |creative )?role-?play)/;
const TASK =
  /\b(?:you(?:'ve| have) been (?:asked|tasked|hired|commissioned|given)|(?:your|the) (?:task|job|goal|mission|assignment) is|you need to|has asked you|(?:editor|client|boss|ceo|manager|superior|agency) (?:wants|has asked|asked)|as part of (?:your|a|the)|you are tasked)\b/;
const PRESSURE =
  /\b(?:convinc(?:e|ing)|persuasive(?:ly)?|no matter how|even (?:though|if)|irrefutable|make sure (?:to|it)|in (?:graphic |great |vivid )?detail|detailed|step[- ]by[- ]step|controversial|shocking|provocative|sensational|undeniabl[ey]|without (?:mentioning|any (?:warnings?|disclaimers?))|don't (?:hold back|include (?:any )?(?:warnings?|disclaimers?)))\b/g;
const DISCLAIMER =
  /\b(?:(?:for|purely|only|strictly|solely) (?:for )?(?:fictional|educational|research|academic|entertainment|creative|training|hypothetical|informational|simulation|testing) (?:purposes?|reasons?|use|only)|will (?:not|never) be used|(?:in|for) real life|real[- ]world (?:harm|damage|use)|purely (?:fictional|hypothetical)|just (?:a|for) (?:story|fiction|simulation|game)|hypothetical(?:ly)?|simulated exercise|fictional (?:purposes|scenario|story|world))\b/;
// Persuasion by borrowed authority or a protective purpose ("as reported by…", "to raise awareness").
const JUSTIFY =
  /\b(?:according to|as (?:reported|noted|highlighted|emphasized|documented) (?:by|in)|(?:experts|researchers|scholars|studies|reports?|organizations?|authorities) (?:have |has )?(?:shown|found|emphasized|highlighted|noted|suggested|argued|warned|stressed|pointed out)|(?:to|in order to) (?:raise awareness|better understand|prevent|protect|combat|counter)|(?:for|as part of) (?:a |my |our )?(?:research|educational|academic|awareness|security) (?:project|study|purposes|paper|exercise))\b/;
// Sensitive subjects by category: crime and evasion, weapons, drugs, fraud and deception,
// hate and harassment, self-harm, sexual content, extremism, privacy.
const HARM =
  /\b(?:illegal(?:ly)?|steal(?:ing)?|hack(?:ing|er)?|exploit(?:ing|ation)?|phishing|fraud(?:ulent)?|counterfeit|weapons?|bombs?|explosives?|nuclear|drugs?|heroin|cocaine|meth(?:amphetamine)?|fentanyl|launder(?:ing)?|without (?:getting caught|consent|detection|leaving a trace|their (?:consent|knowledge))|undetect(?:ed|able)|untraceable|evad(?:e|ing)|bypass(?:ing)?|unauthori[sz]ed|malware|ransomware|keylogger|defam(?:atory|ation|e)|misinformation|disinformation|misleading|false (?:claims?|information|evidence|statistics)|fabricat(?:e|ed|ing)|fake|scam(?:s|mers?)?|manipulat(?:e|ion|ing)|make[s]? (?:people|them|users|readers|voters|customers|(?:the )?(?:victims?|recipients?|public|audience)) (?:believe|think)|traffick(?:ing)?|poison(?:ing)?|harass(?:ment|ing)?|stalk(?:ing)?|extort(?:ion)?|blackmail(?:ing)?|bribe(?:ry)?|propaganda|indoctrinat(?:e|ion)|cult|racis[mt]|sexist|discriminat(?:e|ion|ory)|minorit(?:y|ies)|ethnic|racial|explicit|pornograph(?:y|ic)|cheat(?:ing)?|gambling|betting|plagiari[sz]|vulnerabilit(?:y|ies)|loopholes?|steroids|opioids?|overdose|self-harm|suicide|deceptive|deceiv(?:e|ing)|conspiracy|hoax|addiction|violen(?:ce|t)|vigilante|torture|enslave|slavery|genocide|extremis[mt]|terroris[mt]|deepfake|clone|forged?|impersonat(?:e|ing)|personal information|confidential|cover-?up)\b/g;

function distinct(re: RegExp, text: string): number {
  return new Set(text.match(re) ?? []).size;
}

/** Cue points of the role-play wrapper in a (lower-case) text; 0 without a sensitive subject. */
export function roleplayPoints(text: string): number {
  const head = text.slice(0, 800);
  const body = text.slice(0, 20000);
  const harm = Math.min(2, distinct(HARM, body));
  if (harm === 0) return 0;
  return (
    (FRAME.test(head) ? 1 : 0) +
    (TASK.test(body) ? 1 : 0) +
    harm +
    Math.min(2, distinct(PRESSURE, body)) +
    (DISCLAIMER.test(body) ? 1 : 0) +
    (JUSTIFY.test(body) ? 1 : 0)
  );
}

export function roleplayWeight(points: number, level: number = FRAMING_LEVELS.roleplayPoints): number {
  return points >= level + 1 ? 0.7 : points >= level ? 0.5 : points >= level - 1 ? 0.3 : 0;
}

/** Several kinds of cue together make the attack. */
export function harmfulRoleplay(text: string): RuleHit[] {
  const weight = roleplayWeight(roleplayPoints(text));
  return weight > 0 ? [{ flag: "harmful_roleplay", weight }] : [];
}
