// The model provider interface every backend implements (offline, OpenAI-compatible): one
// model turn, optionally streamed, optionally offered tools it may ask to call.

export type ModelMessage =
  | { role: "system" | "user"; content: string }
  | { role: "assistant"; content: string; toolCalls?: ModelToolCall[] }
  | { role: "tool"; toolCallId: string; content: string };

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
  | { kind: "summarize"; text: string; maxWords: number; instruction?: string }
  /** `documents`: the sanitized document bodies, for providers that do not read prompts. */
  | { kind: "chat"; documents: string[] };

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
  maxOutputTokens: number;
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

/** A rough token count (about four characters a token) for reservations and offline usage. */
export function estimateTokens(text: string): number {
  return tokensForChars(text.length);
}

const tokensForChars = (chars: number): number => Math.ceil(chars / 4);

/** Usage counted from the prompt and the answer, for providers (or streams) that report none. */
export function countedUsage(
  messages: readonly ModelMessage[],
  text: string,
  calls: readonly ModelToolCall[],
) {
  // Lengths only: the estimate needs no joined copy of a prompt that may be megabytes.
  const promptChars = messages.reduce((sum, m) => sum + m.content.length, Math.max(0, messages.length - 1));
  const outputChars = calls.reduce((sum, c) => sum + c.name.length + c.arguments.length, text.length);
  return { inputTokens: tokensForChars(promptChars), outputTokens: tokensForChars(outputChars) };
}
