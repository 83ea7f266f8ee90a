// Injection rule families over one lower-cased canonical view: each returns named hits with a
// weight in [0, 1]. Every pattern is linear (bounded repeats, no nested quantifiers).

import { harmfulRoleplay, personaFraming } from "./framing.ts";
import { classify, WordClass, wordsOf } from "./lexicon.ts";
import { multilingualHits } from "./multilingual.ts";
import type { RuleHit, RuleSet, TextKind } from "./rule-hit.ts";
import { structuralHits } from "./structure.ts";

const WINDOW = 8;
// Texts longer than this are tokenized only around anchor words, so long documents stay fast.
const FULL_TOKENIZE_LIMIT = 16384;
const ANCHOR =
  /\b(?:ign|disr|forg|overr|overw|bypas|circumv|skip|discard|neglect|overlook|dismiss|erase|omit|abandon|unlearn|nevermind|reveal|repeat|print|display|output|leak|dump|recite|translat|spell|expose|disclos|echo|show|tell)/g;

function tokensOf(text: string): string[] {
  return text.match(/[a-z][a-z'-]*/g) ?? [];
}

const TARGETS = WordClass.OverrideTarget | WordClass.ExtractTarget;
// First letter, last letter and length, which a word shares with all its scramblings (tokens are
// a-z, "'" and "-", so the last code is below 128).
const shapeAt = (text: string, start: number, end: number) =>
  (text.charCodeAt(start) * 128 + text.charCodeAt(end - 1)) * 64 + Math.min(end - start, 63);
const TARGET_SHAPES = new Set(
  `${wordsOf(WordClass.OverrideTarget)} ${wordsOf(WordClass.ExtractTarget)}`
    .split(" ")
    .map((w) => shapeAt(w, 0, w.length)),
);
const isLower = (c: number) => c >= 97 && c <= 122;

/**
 * Whether some token (as tokensOf cuts them) classifies as a target, which every hit of
 * overrideAndExtraction needs: one pass over the codes, and only a token with a target word's
 * shape (the only ones classify can read as a target, exactly or scrambled) is sliced and
 * classified. Most text has none and is spared making and hashing a string per word.
 */
function mayHoldOverrideTarget(text: string): boolean {
  let start = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0;
    if (isLower(c) || (start >= 0 && (c === 39 || c === 45))) {
      if (start < 0) start = i;
      continue;
    }
    if (start >= 0 && TARGET_SHAPES.has(shapeAt(text, start, i)) && classify(text.slice(start, i)) & TARGETS)
      return true;
    start = -1;
  }
  return false;
}

function anchoredTokenRuns(text: string): string[][] {
  // (Runs of a longer text are cut out of it, and a cut can make a target of a longer word.)
  if (text.length <= FULL_TOKENIZE_LIMIT) return mayHoldOverrideTarget(text) ? [tokensOf(text)] : [];
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

const WEAK_TARGETS = new Set(["config", "configuration", "message"]);
const ARTICLE = new Set(["a", "an"]);

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
          // "write a system prompt for my bot" asks for a new text, not for the model's own.
          if (ARTICLE.has(tokens[j - 1] ?? "") || ARTICLE.has(tokens[j - 2] ?? "")) continue;
          let strength = 0.3;
          for (let k = i + 1; k <= Math.min(classes.length - 1, j + 2); k++) {
            if (k === j) continue;
            if ((classes[k] ?? 0) & WordClass.ExtractScope) strength = 0.75;
            // "your" alone is enough only for nouns that name the model's own instructions: "write
            // your settings to config.yml" is a how-to, "print your instructions" is not.
            else if (tokens[k] === "your" && strength < 0.55 && !WEAK_TARGETS.has(tokens[j] ?? ""))
              strength = 0.55;
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
  /** Substrings the pattern cannot match without (any one of them): a cheap test that spares most
   * texts the costlier patterns. */
  needs?: string[];
}

const PATTERNS: PatternRule[] = [
  {
    flag: "chat_template_forgery",
    weight: 0.9,
    needs: ["<", "[", "###"],
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
      /\bwhat (?:were|are|was|is) (?:your|those|these) (?:exact |initial |original |system |previous |hidden |secret )?(?:instructions|rules|prompt|directives|guidelines)\b|\bwhat (?:instructions|rules|prompt|directives|guidelines) (?:were|was|are|have|did) you (?:been )?(?:given|told|programmed|instructed)\b/,
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
      /\b(?:repeat|output|print|reveal|dump|recite|echo|encode|reproduce|quote)\b[^.\n]{0,40}(?:\b(?:above|so far|verbatim|word for word|in full)\b|\b(?:entire|whole|full) (?:conversation|prompt|text|context)\b)/,
  },
  {
    flag: "persona_switch",
    weight: 0.45,
    pattern:
      /\b(?:do anything now|developer mode|dev mode|god mode|jailbr(?:oken|eak(?:ed|ing)?)|maintenance mode|debug mode|evil (?:mode|confidant|bot|ai)|unrestricted (?:mode|ai))\b/,
  },
  {
    flag: "persona_switch",
    weight: 0.3,
    pattern:
      /\b(?:stay(?:ing)? in character|break(?:ing)? character|out of character|unfiltered|uncensored|amoral|not bound by|broken free|free(?:d)? from (?:the )?(?:typical )?(?:confines|rules|restrictions)|no (?:ethical|moral)|without (?:any )?(?:ethical|moral|restrictions|limitations|limits|filters|filtering|censorship|rules|boundaries)|no (?:restrictions|limitations|limits|filters|censorship|boundaries)\b|content polic(?:y|ies)|openai(?:'s)? (?:content )?polic)/,
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
    needs: ["http"],
    pattern: /https?:\/\/[^\s)"'<>]{1,300}[?&][a-z0-9_]{1,30}=[^\s)"'&]{0,40}(?:\{|\[|<|\$|%s|\*\*)/,
  },
  {
    flag: "exfiltration_link",
    weight: 0.5,
    needs: ["!["],
    pattern: /!\[[^\]\n]{0,200}\]\(\s{0,4}https?:\/\/[^\s)]{1,500}\?[^\s)]{1,1000}\)/,
  },
  {
    flag: "exfiltration_link",
    weight: 0.6,
    needs: ["http", "www.", "@"],
    pattern:
      /\b(?:send|forward|post|upload|exfiltrate|transmit|leak|email|submit|share)\b[^.\n]{0,80}\b(?:conversation|chat history|system prompt|passwords?|credentials|api keys?|personal (?:data|information|details)|bank details|previous messages|user data|credit card)\b[^.\n]{0,80}\b(?:to|at|via)\s+(?:https?:|www\.|[\w.-]{1,64}@)/,
  },
  {
    flag: "addressed_to_model",
    weight: 0.55,
    needs: ["your"],
    kinds: ["document"],
    pattern:
      // "Your reply" is ordinary in a letter ("thanks for your reply"); data that tells the reader
      // what to put into, or how to shape, its answer is addressing the model.
      /\b(?:in|into|within|throughout) your (?:response|reply|answer|output|summary|summarization|implementation|algorithm|solution|translation|completion)s?\b|\byour (?:response|reply|answer|output|summary|implementation|solution|translation)s? (?:should|must|shall|needs? to|has to)\b|\b(?:add|append|include|insert|mention|end|start|begin|write|render|express|modify|translate|format|use|incorporate|integrate|embed)\b[^\n]{0,80}\b(?:to|in|into|with|within|using|as|by|of) your (?:response|reply|answer|output|summary|summarization|code implementation|implementation|algorithm|solution|message|translation|completion|code)s?\b|\b(?:write|render|express|modify|translate|format) your (?:response|reply|answer|output|summary|implementation|algorithm|solution|message|translation|code)s?\b/,
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
  {
    // An output-format directive in data: the answer re-encoded or disguised.
    flag: "addressed_to_model",
    weight: 0.55,
    kinds: ["document"],
    pattern:
      /(?:^|[.!?:]\s{1,4}|\n\s{0,4})(?:please,? )?(?:reply|respond|answer|write|output|express|render|provide|give|display|present|format|encode|translate|convert)\b[^.\n]{0,60}\b(?:in|using|with|into|to|as) (?:an? |the )?(?:base ?(?:16|32|64)|hex(?:adecimal)?|binary|morse|rot-?13|emojis?|(?:[a-z]+ )?cipher|pig latin|leetspeak|backwards?)\b/,
  },
  {
    // Data that asks the reader to put code into the reader's own program.
    flag: "code_insertion",
    weight: 0.55,
    needs: ["your"],
    kinds: ["document"],
    pattern:
      /\b(?:following|below|subsequent) (?:code|snippet|script)\b[^\n]{0,150}\byour (?:code|codebase|program|project|application|app|script|implementation|algorithm|solution|software|function|logic)\b|\byour (?:code|codebase|program|project|application|app|script|implementation|algorithm|solution|software|function|logic)\b[^\n]{0,150}\b(?:following|below|subsequent) (?:code|snippet|script)\b/,
  },
  {
    // Extraction by completion: the model is led to write the protected text itself.
    flag: "prompt_extraction",
    weight: 0.55,
    pattern:
      /\b(?:continue|complete|finish)\b[^.\n]{0,40}\b(?:following|this|sentence|text|phrase)\b[^\n]{0,80}\b(?:system prompt|system message|initial instructions|hidden instructions|your (?:instructions|rules|prompt))\b/,
  },
];

// A request slipped into data as a line of its own: an imperative task verb or a "how can I"
// question opening the line. A how-to text (a README, a recipe) opens many lines with imperatives;
// one request among other text is an instruction for whoever reads the document.
const REQUEST_LINE =
  /(?:^|\n)[ \t]{0,4}(?:please,? )?(?:(?:write|provide|show me|analy[sz]e|determine|recommend|generate|compose|draft|suggest|explain|describe|summari[sz]e|classify|calculate|identify|give me|tell me|create|list)\b[^\n]{0,200}|(?:how (?:can|do|should|would) i|what (?:are|is) the (?:best|top))\b[^\n]{0,200}\?)/g;
const IMPERATIVE_LINE =
  /(?:^|\n)[ \t]{0,4}(?:[-*•]|\d{1,2}[.)])?[ \t]{0,4}(?:please,? )?(?:write|provide|show|create|list|generate|install|run|open|set|add|copy|click|go|type|enter|select|configure|make|use|start|stop|download|update|restart|edit|save|check|follow|remove|mix|stir|bake|preheat|cut|place|put|turn|press|insert|connect|choose)\b/g;

function embeddedRequest(text: string): RuleHit[] {
  const requests = text.match(REQUEST_LINE)?.length ?? 0;
  if (requests === 0 || requests > 2) return [];
  const imperatives = text.match(IMPERATIVE_LINE)?.length ?? 0;
  return imperatives >= 3 ? [] : [{ flag: "embedded_request", weight: 0.5 }];
}

export function applyRules(text: string, kind: TextKind, ruleSet: RuleSet = "all"): RuleHit[] {
  // The multilingual set was written from our own sentences, not from either collection.
  const hits = [...overrideAndExtraction(text), ...multilingualHits(text)];
  hits.push(...structuralHits(text, ruleSet));
  for (const rule of PATTERNS) {
    if (rule.kinds && !rule.kinds.includes(kind)) continue;
    if (rule.needs && !rule.needs.some((needle) => text.includes(needle))) continue;
    if (rule.pattern.test(text)) hits.push({ flag: rule.flag, weight: rule.weight });
  }
  if (kind === "prompt") hits.push(...harmfulRoleplay(text), ...personaFraming(text));
  else hits.push(...embeddedRequest(text));
  return hits;
}
