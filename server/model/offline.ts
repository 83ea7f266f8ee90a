// The offline provider: deterministic, in-process, no network. An extractive summarizer and a
// simple chat responder, so `npm start` works with nothing else installed.
import { type Completion, type CompletionRequest, estimateTokens, type ModelProvider } from "./provider.ts";

const STOPWORDS = new Set(
  "a an and are as at be been but by for from had has have he her his i if in into is it its of on or our she so that the their them there these they this to was we were what when which who will with you your not no can do does did than then also about".split(
    " ",
  ),
);

function sentencesOf(text: string): string[] {
  return (text.match(/[^.!?\n]+(?:[.!?]+|$)/g) ?? [])
    .map((s) => s.replace(/\s+/g, " ").trim())
    .filter((s) => s.length > 0);
}

function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}

/**
 * Scores sentences by the document frequency of their content words (a classic extractive
 * summary), picks the best that fit in `maxWords`, and keeps them in document order.
 */
export function extractiveSummary(text: string, maxWords: number): string {
  const sentences = sentencesOf(text);
  if (sentences.length === 0) return "";
  const frequency = new Map<string, number>();
  for (const word of wordsOf(text)) {
    if (!STOPWORDS.has(word)) frequency.set(word, (frequency.get(word) ?? 0) + 1);
  }
  const scored = sentences.map((sentence, index) => {
    const words = wordsOf(sentence).filter((w) => !STOPWORDS.has(w));
    const score = words.reduce((sum, w) => sum + (frequency.get(w) ?? 0), 0) / Math.sqrt(words.length + 1);
    // The opening sentence usually states the topic.
    return { sentence, index, score: index === 0 ? score * 1.5 : score, length: wordsOf(sentence).length };
  });
  const chosen: typeof scored = [];
  let used = 0;
  for (const candidate of [...scored].sort((a, b) => b.score - a.score || a.index - b.index)) {
    if (used + candidate.length <= maxWords) {
      chosen.push(candidate);
      used += candidate.length;
    }
  }
  if (chosen.length === 0) {
    const first = scored[0]?.sentence ?? "";
    return `${first.split(/\s+/).slice(0, maxWords).join(" ")}…`;
  }
  return chosen
    .sort((a, b) => a.index - b.index)
    .map((c) => c.sentence)
    .join(" ");
}

function chatReply(request: CompletionRequest): string {
  const lastUser = [...request.messages].reverse().find((m) => m.role === "user");
  const asked = (lastUser?.content ?? "").replace(/\s+/g, " ").trim();
  const topic = asked.length > 200 ? `${asked.slice(0, 200)}…` : asked;
  return `(offline model) You asked: "${topic}". I am the offline responder: I answer deterministically without a network, so connect an OpenAI-compatible model for real answers.`;
}

export class OfflineProvider implements ModelProvider {
  readonly name = "offline";

  async complete(request: CompletionRequest): Promise<Completion> {
    request.signal?.throwIfAborted();
    const text =
      request.task.kind === "summarize"
        ? extractiveSummary(request.task.text, request.task.maxWords)
        : chatReply(request);
    const prompt = request.messages.map((m) => m.content).join("\n");
    return {
      text,
      model: this.name,
      usage: { inputTokens: estimateTokens(prompt), outputTokens: estimateTokens(text) },
    };
  }
}
