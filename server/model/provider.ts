// The model provider interface every backend implements (offline, OpenAI-compatible).

export interface ModelMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface ModelUsage {
  inputTokens: number;
  outputTokens: number;
}

export type ModelTask =
  | { kind: "summarize"; text: string; maxWords: number; instruction?: string }
  | { kind: "chat" };

export interface CompletionRequest {
  /** The full prompt: system prompt, spotlighted documents, user turns. */
  messages: ModelMessage[];
  /** What is being asked, for providers that do not read prompts (offline). */
  task: ModelTask;
  maxOutputTokens: number;
  signal?: AbortSignal;
}

export interface Completion {
  text: string;
  model: string;
  usage: ModelUsage;
}

export interface ModelProvider {
  readonly name: string;
  complete(request: CompletionRequest): Promise<Completion>;
}

/** A rough token count (about four characters a token) for reservations and offline usage. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
