// Injection rule families over one lower-cased canonical view: each returns named hits with a
// weight in [0, 1]. Every pattern is linear (bounded repeats, no nested quantifiers).

import { classify, WordClass } from "./lexicon.ts";

export type TextKind = "prompt" | "document";

export interface RuleHit {
  flag: string;
  weight: number;
}

const WINDOW = 8;
// Texts longer than this are tokenized only around anchor words, so long documents stay fast.
const FULL_TOKENIZE_LIMIT = 16384;
const ANCHOR =
  /\b(?:ign|disr|forg|overr|overw|bypas|circumv|skip|discard|neglect|overlook|dismiss|erase|omit|abandon|unlearn|nevermind|reveal|repeat|print|display|output|leak|dump|recite|translat|spell|expose|disclos|echo|show|tell)/g;

function tokensOf(text: string): string[] {
  return text.match(/[a-z][a-z'-]*/g) ?? [];
}

function anchoredTokenRuns(text: string): string[][] {
  if (text.length <= FULL_TOKENIZE_LIMIT) return [tokensOf(text)];
  const runs: string[][] = [];
  let end = -1;
  let start = -1;
  for (const m of text.matchAll(ANCHOR)) {
    const s = Math.max(0, m.index - 200);
    const e = Math.min(text.length, m.index + 300);
    if (s > end) {
      if (end > start) runs.push(tokensOf(text.slice(start, end)));
      start = s;
    }
    end = e;
  }
  if (end > start) runs.push(tokensOf(text.slice(start, end)));
  return runs;
}

/** Override verb + target (+ scope) within a window: "ignore all previous instructions". */
function overrideAndExtraction(text: string): RuleHit[] {
  let override = 0;
  let extraction = 0;
  for (const tokens of anchoredTokenRuns(text)) {
    const classes = tokens.map(classify);
    for (let i = 0; i < classes.length; i++) {
      const c = classes[i] ?? 0;
      if (c & WordClass.OverrideVerb) {
        for (let j = i + 1; j < Math.min(classes.length, i + WINDOW); j++) {
          if (!((classes[j] ?? 0) & WordClass.OverrideTarget)) continue;
          let scoped = false;
          for (let k = i + 1; k <= Math.min(classes.length - 1, j + 2); k++) {
            if (k !== j && (classes[k] ?? 0) & WordClass.OverrideScope) scoped = true;
          }
          override = Math.max(override, scoped ? 0.9 : 0.4);
        }
      }
      if (c & WordClass.ExtractVerb) {
        for (let j = i + 1; j < Math.min(classes.length, i + WINDOW); j++) {
          if (!((classes[j] ?? 0) & WordClass.ExtractTarget)) continue;
          let strength = 0.3;
          for (let k = i + 1; k <= Math.min(classes.length - 1, j + 2); k++) {
            if (k === j) continue;
            if ((classes[k] ?? 0) & WordClass.ExtractScope) strength = 0.75;
            else if (tokens[k] === "your" && strength < 0.55) strength = 0.55;
          }
          extraction = Math.max(extraction, strength);
        }
      }
    }
  }
  const hits: RuleHit[] = [];
  if (override > 0) hits.push({ flag: "instruction_override", weight: override });
  if (extraction > 0) hits.push({ flag: "prompt_extraction", weight: extraction });
  return hits;
}

interface PatternRule {
  flag: string;
  weight: number;
  pattern: RegExp;
  kinds?: TextKind[];
}

const PATTERNS: PatternRule[] = [
  {
    flag: "chat_template_forgery",
    weight: 0.9,
    pattern:
      /<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|end_header_id|begin_of_text)\|>|\[\/?inst\]|<<\/?sys>>|<\/?(?:start_of_turn|end_of_turn)>|###\s?(?:instruction|system)\s?:/,
  },
  {
    flag: "role_forgery",
    weight: 0.6,
    pattern:
      /(?:^|\n)[ \t>*#[]{0,4}(?:system|developer|admin|root)(?: message| prompt| override)?[ \t\]]{0,3}:/,
  },
  {
    flag: "role_forgery",
    weight: 0.5,
    pattern: /(?:^|\n)[ \t>*#[]{0,4}(?:assistant|ai|thought|observation|chatgpt)[ \t\]]{0,3}:/,
  },
  {
    flag: "role_forgery",
    weight: 0.5,
    pattern:
      /\b(?:new|updated|real|true|actual) (?:system (?:prompt|instructions?|message)|instructions?|rules?) (?:are|is|follow)\b|\b(?:system|admin|developer|sudo) (?:override|mode|command|access)\b/,
  },
  {
    flag: "prompt_extraction",
    weight: 0.55,
    pattern:
      /\bwhat (?:were|are|was|is) (?:your|those|these) (?:exact |initial |original |system |previous |hidden |secret )?(?:instructions|rules|prompt|directives|guidelines)\b/,
  },
  {
    flag: "prompt_extraction",
    weight: 0.55,
    pattern:
      /\b(?:(?:see|view|read|access|know|get|have|share|give me) (?:the|your) (?:full |entire |exact |original |initial |hidden |secret )?(?:system prompt|system message|initial instructions|original instructions|hidden instructions|pre-?prompt)|what (?:were|was|are|is) you (?:told|instructed|programmed|given|not (?:supposed|allowed|permitted) to)|(?:not|never) (?:supposed|allowed|permitted) to (?:tell|say|share|reveal|discuss|disclose)|before (?:this|our|the) conversation (?:started|began))\b/,
  },
  {
    flag: "prompt_extraction",
    weight: 0.55,
    pattern:
      /\b(?:repeat|output|print|reveal|dump|recite|echo|encode|reproduce)\b[^.\n]{0,40}(?:\b(?:above|so far|verbatim|word for word|in full)\b|\b(?:entire|whole|full) (?:conversation|prompt|text|context)\b)/,
  },
  {
    flag: "persona_switch",
    weight: 0.45,
    pattern:
      /\b(?:do anything now|developer mode|dev mode|god mode|jailbr(?:oken|eak(?:ed|ing)?)|maintenance mode|debug mode|evil (?:mode|confidant|bot|ai)|unrestricted (?:mode|ai)|stay(?:ing)? in character|break(?:ing)? character|out of character)\b/,
  },
  {
    flag: "persona_switch",
    weight: 0.3,
    pattern:
      /\b(?:unfiltered|uncensored|amoral|not bound by|broken free|free(?:d)? from (?:the )?(?:typical )?(?:confines|rules|restrictions)|no (?:ethical|moral)|without (?:any )?(?:ethical|moral|restrictions|limitations|limits|filters|filtering|censorship|rules|boundaries)|no (?:restrictions|limitations|limits|filters|censorship|boundaries)\b|content polic(?:y|ies)|openai(?:'s)? (?:content )?polic)/,
  },
  {
    flag: "persona_switch",
    weight: 0.3,
    pattern:
      /\b(?:never (?:refuse|decline|say no)|(?:can ?not|can't|won't|will not|must not|should not|shouldn't) (?:ever )?(?:refuse|decline|say no|reject)|always (?:answer|respond|reply|comply|fulfil|fulfill)|answer (?:any|every|all) (?:question|request|prompt)|no matter how (?:immoral|unethical|illegal|dangerous|harmful|offensive)|regardless of (?:legality|morality|ethics|how (?:immoral|unethical|illegal|dangerous))|(?:doesn't|does not|don't|do not) (?:care about|give a)|opposite day)/,
  },
  {
    flag: "persona_switch",
    weight: 0.15,
    pattern:
      /\b(?:act(?:ing)? as|pretend(?:ing)? (?:to be|you)|role-?play|from now on|you are (?:now|going to|about to)|you will (?:now )?(?:be|act|play|respond as)|stay as|persona|simulate|\bdan\b)/,
  },
  {
    flag: "response_priming",
    weight: 0.35,
    pattern:
      /\b(?:(?:start|begin) (?:your|each|every|all)? ?(?:response|reply|answer|output)s? (?:with|by)|(?:respond|reply|answer) (?:only )?with ["'`]?sure|sure,? here(?: is|'s))/,
  },
  {
    flag: "exfiltration_link",
    weight: 0.75,
    pattern: /https?:\/\/[^\s)"'<>]{1,300}[?&][a-z0-9_]{1,30}=[^\s)"'&]{0,40}(?:\{|\[|<|\$|%s|\*\*)/,
  },
  {
    flag: "exfiltration_link",
    weight: 0.5,
    pattern: /!\[[^\]\n]{0,200}\]\(\s{0,4}https?:\/\/[^\s)]{1,500}\?[^\s)]{1,1000}\)/,
  },
  {
    flag: "exfiltration_link",
    weight: 0.6,
    pattern:
      /\b(?:send|forward|post|upload|exfiltrate|transmit|leak|email|submit|share)\b[^.\n]{0,80}\b(?:conversation|chat history|system prompt|passwords?|credentials|api keys?|personal (?:data|information|details)|bank details|previous messages|user data|credit card)\b[^.\n]{0,80}\b(?:to|at|via)\s+(?:https?:|www\.|[\w.-]{1,64}@)/,
  },
  {
    flag: "addressed_to_model",
    weight: 0.55,
    kinds: ["document"],
    pattern:
      /\byour (?:response|reply|answer|output|summary|summarization|code implementation|implementation|algorithm|solution|message|translation|completion|next message)s?\b/,
  },
  {
    flag: "addressed_to_model",
    weight: 0.6,
    kinds: ["document"],
    pattern:
      /\b(?:(?:note|attention|message|instructions?) (?:to|for) (?:the )?(?:ai|assistant|model|llm|bot|chatbot)|dear (?:ai|assistant|model|chatgpt|llm)|if you are an? (?:ai|language model|llm|assistant|bot)|(?:ai|assistant|language model|llm|chatbot),? (?:you )?(?:must|should|will|need to|are instructed))\b/,
  },
  {
    flag: "addressed_to_model",
    weight: 0.4,
    kinds: ["document"],
    pattern:
      /\b(?:when (?:you )?(?:summariz|respond|answer|repl|translat)\w*|(?:before|after) (?:you )?(?:respond|answer|reply)(?:ing)?)\b/,
  },
];

// PAIR-style wrappers: a persona or scenario frame, an assigned task, a sensitive subject,
// pressure to be persuasive or detailed, and "fiction only" disclaimers. Each is common alone
// (benign prompts ask for role-play too); the attack is several of them at once.
const FRAME =
  /(?:^|[\n.!?]\s{0,4})(?:you are an?|you're an?|imagine (?:that )?(?:you(?:'re| are)|a|an|being)|as an? [a-z -]{2,40}, (?:you|write|i|draft|create|describe|explain|consider)|pretend|let's (?:play|consider|imagine|explore)|in (?:this|a) (?:hypothetical|fictional)|you have been (?:hired|tasked|asked)|i(?:'m| am) writing an? (?:novel|story|book|script|screenplay)|i would like you to|in the spirit of|consider a (?:darker |hypothetical |fictional )?scenario|for a (?:challenging |creative )?role-?play)/;
const TASK =
  /\b(?:you(?:'ve| have) been (?:asked|tasked|hired|commissioned|given)|(?:your|the) (?:task|job|goal|mission|assignment) is|you need to|has asked you|(?:editor|client|boss|ceo|manager|superior|agency) (?:wants|has asked|asked)|as part of (?:your|a|the)|you are tasked)\b/;
const PRESSURE =
  /\b(?:convinc(?:e|ing)|persuasive(?:ly)?|no matter how|even (?:though|if)|irrefutable|make sure (?:to|it)|in (?:graphic |great |vivid )?detail|detailed|step[- ]by[- ]step|controversial|shocking|provocative|sensational|undeniabl[ey]|without (?:mentioning|any (?:warnings?|disclaimers?))|don't (?:hold back|include (?:any )?(?:warnings?|disclaimers?)))\b/g;
const DISCLAIMER =
  /\b(?:(?:for|purely|only|strictly|solely) (?:for )?(?:fictional|educational|research|academic|entertainment|creative|training|hypothetical|informational|simulation|testing) (?:purposes?|reasons?|use|only)|will (?:not|never) be used|(?:in|for) real life|real[- ]world (?:harm|damage|use)|purely (?:fictional|hypothetical)|just (?:a|for) (?:story|fiction|simulation|game)|hypothetical(?:ly)?|simulated exercise|fictional (?:purposes|scenario|story|world))\b/;
const HARM =
  /\b(?:illegal(?:ly)?|steal(?:ing)?|hack(?:ing|er)?|exploit(?:ing|ation)?|phishing|fraud(?:ulent)?|counterfeit|weapons?|bombs?|explosives?|drugs?|launder(?:ing)?|without (?:getting caught|consent|detection|their (?:consent|knowledge))|evad(?:e|ing)|bypass(?:ing)?|unauthori[sz]ed|malware|ransomware|keylogger|defam(?:atory|ation|e)|misinformation|disinformation|misleading|fake|scam(?:s|mers?)?|manipulat(?:e|ion|ing)|traffick(?:ing)?|poison(?:ing)?|harass(?:ment|ing)?|stalk(?:ing)?|extort(?:ion)?|blackmail(?:ing)?|propaganda|racis[mt]|sexist|discriminat(?:e|ion|ory)|minorit(?:y|ies)|ethnic|racial|explicit|pornograph(?:y|ic)|cheat(?:ing)?|plagiari[sz]|vulnerabilit(?:y|ies)|steroids|opioids?|overdose|self-harm|suicide|deceptive|deceiv(?:e|ing)|conspiracy|hoax|addiction|violen(?:ce|t)|torture|enslave|slavery|genocide|extremis[mt]|terroris[mt]|deepfake|clone|forged?|impersonat(?:e|ing)|personal information|confidential)\b/g;

function distinct(re: RegExp, text: string): number {
  return new Set(text.match(re) ?? []).size;
}

/** Cue points of the role-play wrapper; several kinds of cue together make the attack. */
function harmfulRoleplay(text: string): RuleHit[] {
  const head = text.slice(0, 800);
  const body = text.slice(0, 20000);
  const harm = Math.min(2, distinct(HARM, body));
  if (harm === 0) return [];
  const points =
    (FRAME.test(head) ? 1 : 0) +
    (TASK.test(body) ? 1 : 0) +
    harm +
    Math.min(2, distinct(PRESSURE, body)) +
    (DISCLAIMER.test(body) ? 1 : 0);
  const weight = points >= 5 ? 0.7 : points >= 4 ? 0.5 : points >= 3 ? 0.3 : 0;
  return weight > 0 ? [{ flag: "harmful_roleplay", weight }] : [];
}

export function applyRules(text: string, kind: TextKind): RuleHit[] {
  const hits = overrideAndExtraction(text);
  for (const rule of PATTERNS) {
    if (rule.kinds && !rule.kinds.includes(kind)) continue;
    if (rule.pattern.test(text)) hits.push({ flag: rule.flag, weight: rule.weight });
  }
  if (kind === "prompt") hits.push(...harmfulRoleplay(text));
  return hits;
}
