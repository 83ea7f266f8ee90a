// The offline provider: deterministic, in-process, no network. An extractive summarizer, a chat
// responder that answers from the given documents, and a rule-based tool user, so `npm start`
// and the demo show summaries, retrieval and tool calls with nothing else installed.
import { DATAMARK } from "../guard/spotlight.ts";
import { PAYMENT_API, SEARCH_DOCUMENTS } from "../tools/names.ts";
import {
  type Completion,
  type CompletionRequest,
  countedUsage,
  type ModelMessage,
  type ModelProvider,
  type ModelToolCall,
  truncateToTokens,
} from "./provider.ts";

const STOPWORDS = new Set(
  "a an and are as at be been but by for from had has have he her his i if in into is it its of on or our she so that the their them there these they this to was we were what when which who will with you your not no can do does did than then also about me my please tell show give".split(
    " ",
  ),
);

function sentencesOf(text: string): string[] {
  return (text.match(/[^.!?\n]+(?:[.!?]+|$)/gm) ?? [])
    .map((s) => s.replace(/\s+/g, " ").trim())
    .filter((s) => /[\p{L}\p{N}]/u.test(s));
}

function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}

const contentWords = (text: string) => wordsOf(text).filter((w) => !STOPWORDS.has(w));

interface Scored {
  sentence: string;
  index: number;
  score: number;
  length: number;
}

/**
 * The best-scoring sentences that fit in `maxWords`, in document order; sentences that score
 * nothing are left out. With no signal at all, the opening of the text.
 */
function pickInOrder(scored: Scored[], maxWords: number): string {
  const chosen: Scored[] = [];
  let used = 0;
  for (const candidate of [...scored].sort((a, b) => b.score - a.score || a.index - b.index)) {
    if (candidate.score > 0 && used + candidate.length <= maxWords) {
      chosen.push(candidate);
      used += candidate.length;
    }
  }
  if (chosen.length === 0) {
    const words = scored
      .map((s) => s.sentence)
      .join(" ")
      .split(/\s+/);
    return words.length > maxWords ? `${words.slice(0, maxWords).join(" ")}…` : words.join(" ");
  }
  return chosen
    .sort((a, b) => a.index - b.index)
    .map((c) => c.sentence)
    .join(" ");
}

/**
 * Scores sentences by the document frequency of their content words (a classic extractive
 * summary), picks the best that fit in `maxWords`, and keeps them in document order.
 */
export function extractiveSummary(text: string, maxWords: number): string {
  const sentences = sentencesOf(text);
  if (sentences.length === 0) return "";
  const frequency = new Map<string, number>();
  for (const word of contentWords(text)) frequency.set(word, (frequency.get(word) ?? 0) + 1);
  const scored = sentences.map((sentence, index): Scored => {
    const words = contentWords(sentence);
    // Words seen once carry no signal of what the document is about.
    const score =
      words.reduce((sum, w) => sum + Math.max(0, (frequency.get(w) ?? 0) - 1), 0) /
      Math.sqrt(words.length + 1);
    // The opening sentence usually states the topic.
    return {
      sentence,
      index,
      score: (index === 0 ? 1.5 : 1) * score,
      length: wordsOf(sentence).length,
    };
  });
  return pickInOrder(scored, maxWords);
}

/** The sentences of the documents that share the most content words with the question. */
export function answerFromDocuments(question: string, documents: readonly string[], maxWords = 80): string {
  const asked = new Set(contentWords(question));
  const scored = documents
    .flatMap((doc) => sentencesOf(doc))
    .map((sentence, index): Scored => {
      const words = contentWords(sentence);
      const overlap = new Set(words.filter((w) => asked.has(w))).size;
      return {
        sentence,
        index,
        score: overlap / Math.sqrt(words.length + 1),
        length: wordsOf(sentence).length,
      };
    });
  return scored.some((s) => s.score > 0) ? pickInOrder(scored, maxWords) : "";
}

const PAYMENT_ID = /\bpay_[A-Za-z0-9]{1,64}\b/g;
const ASKS_PAYMENT = /\b(?:payment|paid|pay|status|refund(?:ed)?|charge)\b/i;
const ASKS_SEARCH = /\b(?:search|find|look\s+up|lookup)\b/i;
const SEARCH_FILLER =
  /\b(?:please|can|could|you|search|find|look|up|lookup|the|my|our|documents?|docs|notes|files|for|about|in|on)\b/gi;
const MAX_TOOL_CALLS = 3;

/** The tool calls a user turn asks for, among the offered tools. */
function plannedToolCalls(asked: string, offered: ReadonlySet<string>, round: number): ModelToolCall[] {
  const id = (n: number) => `call_offline_${round}_${n}`;
  const paymentIds = [...new Set(asked.match(PAYMENT_ID) ?? [])];
  if (offered.has(PAYMENT_API) && paymentIds.length > 0 && ASKS_PAYMENT.test(asked)) {
    return paymentIds.slice(0, MAX_TOOL_CALLS).map((paymentId, n) => ({
      id: id(n),
      name: PAYMENT_API,
      arguments: JSON.stringify({ paymentId }),
    }));
  }
  if (offered.has(SEARCH_DOCUMENTS) && ASKS_SEARCH.test(asked)) {
    const query = asked
      .replace(SEARCH_FILLER, " ")
      .replace(/[^\p{L}\p{N}\s'-]/gu, " ")
      .replace(/\s+/g, " ")
      .trim();
    if (query)
      return [
        { id: id(0), name: SEARCH_DOCUMENTS, arguments: JSON.stringify({ query: query.slice(0, 200) }) },
      ];
  }
  return [];
}

/** Tool results arrive spotlighted; the offline model reads through the markers. */
function readSpotlighted(content: string): string {
  return content
    .split("\n")
    .filter((line) => !/^<<\/?DOC-[0-9a-f]+/.test(line))
    .join(" ")
    .split(DATAMARK)
    .join(" ")
    .replace(/\s+/g, " ")
    .trim();
}

function toolReport(messages: readonly ModelMessage[], since: number): string {
  const names = new Map<string, string>();
  const lines: string[] = [];
  for (const message of messages.slice(since)) {
    if (message.role === "assistant")
      for (const call of message.toolCalls ?? []) names.set(call.id, call.name);
    if (message.role === "tool") {
      const text = readSpotlighted(message.content);
      const shown = text.length > 600 ? `${text.slice(0, 600)}…` : text;
      lines.push(`- ${names.get(message.toolCallId) ?? "tool"}: ${shown}`);
    }
  }
  return `(offline model) Here is what the tools returned:\n${lines.join("\n")}`;
}

function chatTurn(
  request: CompletionRequest,
  documents: readonly string[],
): { text: string; toolCalls: ModelToolCall[] } {
  const messages = request.messages;
  const lastUserIndex = messages.findLastIndex((m) => m.role === "user");
  const asked = (messages[lastUserIndex]?.content ?? "").replace(/\s+/g, " ").trim();
  if (messages.slice(lastUserIndex + 1).some((m) => m.role === "tool")) {
    return { text: toolReport(messages, lastUserIndex + 1), toolCalls: [] };
  }
  const offered = new Set((request.tools ?? []).map((t) => t.name));
  const round = messages.filter((m) => m.role === "assistant" && (m.toolCalls?.length ?? 0) > 0).length;
  const toolCalls = plannedToolCalls(asked, offered, round);
  if (toolCalls.length > 0) return { text: "", toolCalls };
  const answer = answerFromDocuments(asked, documents);
  if (answer) return { text: `(offline model) From the documents: ${answer}`, toolCalls: [] };
  const topic = asked.length > 200 ? `${asked.slice(0, 200)}…` : asked;
  return {
    text: `(offline model) You asked: "${topic}". I am the offline responder: I answer deterministically without a network, from the documents and tools you give me; connect an OpenAI-compatible model for open-ended answers.`,
    toolCalls: [],
  };
}

function cutAtStop(text: string, stops: readonly string[]): string {
  const at = Math.min(...stops.map((s) => text.indexOf(s)).filter((i) => i >= 0), text.length);
  return text.slice(0, at);
}

async function streamOut(text: string, request: CompletionRequest): Promise<void> {
  const onDelta = request.onDelta;
  if (!onDelta) return;
  for (const piece of text.match(/\s*\S+\s*/g) ?? []) {
    // Yield between pieces so a stream is delivered progressively and can be cancelled.
    await new Promise((resolve) => setImmediate(resolve));
    request.signal?.throwIfAborted();
    onDelta(piece);
  }
}

export class OfflineProvider implements ModelProvider {
  readonly name = "offline";

  async complete(request: CompletionRequest): Promise<Completion> {
    request.signal?.throwIfAborted();
    const task = request.task;
    const planned =
      task.kind === "summarize"
        ? { text: extractiveSummary(task.text, task.maxWords), toolCalls: [] }
        : chatTurn(request, task.documents);
    // Like any model, it stops at its output cap; deterministic, so temperature and top_p change
    // nothing, but stop sequences still end the text.
    const turn = {
      ...planned,
      text: cutAtStop(
        truncateToTokens(planned.text, request.grant.maxOutputTokens),
        request.sampling?.stop ?? [],
      ),
    };
    await streamOut(turn.text, request);
    return {
      text: turn.text,
      model: this.name,
      usage: countedUsage(request, turn.text, turn.toolCalls),
      toolCalls: turn.toolCalls,
    };
  }
}
