// The model provider interface every backend implements (offline, OpenAI-compatible): one
// model turn, optionally streamed, optionally offered tools it may ask to call, always under a
// token grant; and the token estimates reservations are made from.
import type { PromptText, UntrustedText } from "../guard/untrusted.ts";
import type { ModelGrant } from "../limits/token-budget.ts";

// Contents are prompt text: only the guard makes it (server/guard/untrusted.ts), so nothing
// reaches a model without passing through it.
export type ModelMessage =
  | { role: "system" | "user"; content: PromptText }
  | { role: "assistant"; content: PromptText; toolCalls?: ModelToolCall[] }
  | { role: "tool"; toolCallId: string; content: PromptText };

/** A tool call as the model issued it: the arguments are raw, untrusted JSON text. */
export interface ModelToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A tool as offered to the model: its name, what it does, and a JSON Schema of its arguments. */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface ModelUsage {
  inputTokens: number;
  outputTokens: number;
}

export type ModelTask =
  | { kind: "summarize"; text: UntrustedText; maxWords: number; instruction?: PromptText }
  /** `documents`: the screened document bodies, for providers that do not read prompts. */
  | { kind: "chat"; documents: UntrustedText[] };

/** Caller-chosen sampling (OpenAI's temperature, top_p, stop); absent fields keep the provider's defaults. */
export interface Sampling {
  temperature?: number;
  topP?: number;
  /** The answer ends before the first of these. */
  stop?: string[];
}

export interface CompletionRequest {
  /** The full prompt: system prompt, spotlighted documents, user turns, tool results. */
  messages: ModelMessage[];
  /** What is being asked, for providers that do not read prompts (offline). */
  task: ModelTask;
  /** Offered tools; the model may ask for others, which the caller refuses. */
  tools?: ToolSpec[];
  /** The round's token reservation; the model's output cap (`max_tokens`) is its output part. */
  grant: ModelGrant;
  sampling?: Sampling;
  signal?: AbortSignal;
  /** When given, the turn is streamed: text is delivered here as it is generated. */
  onDelta?: (text: string) => void;
}

export interface Completion {
  text: string;
  model: string;
  usage: ModelUsage;
  /** The tools the model asks to call; none when absent. */
  toolCalls?: ModelToolCall[];
}

export interface ModelProvider {
  /** `offline` or `openai`; test keys may use only `offline`. */
  readonly name: string;
  complete(request: CompletionRequest): Promise<Completion>;
}

// Chat templates add a few tokens around every message.
const MESSAGE_OVERHEAD_TOKENS = 4;

/**
 * A token count that errs high, for reservations and for usage a provider does not report:
 * four ASCII characters a token, and a token for every other UTF-16 unit (CJK, emoji and most
 * non-Latin scripts run near a token a character, so a flat four-to-one would under-reserve).
 */
export function estimateTokens(text: string): number {
  // ASCII text, the common case, is recognized by one native scan. Otherwise the units are counted
  // in a loop: removing them with a regex built a copy of the text, piece by piece, and a
  // spotlighted document has a non-ASCII datamark between every two words (13 vs 5 us on 2 KB).
  if (ASCII_ONLY.test(text)) return Math.ceil(text.length / 4);
  let other = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) other++;
  return Math.ceil((text.length - other) / 4) + other;
}

const ASCII_ONLY = /^[\0-\x7f]*$/;

/** The longest prefix of `text` whose estimate fits in `maxTokens`: where a model stops at `max_tokens`. */
export function truncateToTokens(text: string, maxTokens: number): string {
  let tokens = 0;
  let ascii = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) tokens++;
    else if (ascii++ % 4 === 0) tokens++;
    if (tokens > maxTokens) {
      const cut = i > 0 && text.charCodeAt(i - 1) >= 0xd800 && text.charCodeAt(i - 1) <= 0xdbff ? i - 1 : i;
      return text.slice(0, cut);
    }
  }
  return text;
}

/** What one message of this content is estimated to take. */
export const messageTokens = (content: string): number => MESSAGE_OVERHEAD_TOKENS + estimateTokens(content);

/** What a prompt is estimated to take: every message with its overhead, and the tools offered. */
export function promptTokens(messages: readonly ModelMessage[], tools: readonly ToolSpec[] = []): number {
  let tokens = 0;
  for (const m of messages) {
    tokens += messageTokens(m.content);
    if (m.role === "assistant")
      for (const c of m.toolCalls ?? []) tokens += estimateTokens(c.id + c.name + c.arguments);
  }
  for (const t of tools) tokens += estimateTokens(JSON.stringify(t));
  return tokens;
}

/** Usage counted from the prompt and the answer, for providers (or streams) that report none. */
export function countedUsage(
  request: Pick<CompletionRequest, "messages" | "tools">,
  text: string,
  calls: readonly ModelToolCall[],
): ModelUsage {
  const outputTokens = calls.reduce(
    (sum, c) => sum + estimateTokens(c.name + c.arguments),
    estimateTokens(text),
  );
  return { inputTokens: promptTokens(request.messages, request.tools), outputTokens };
}
