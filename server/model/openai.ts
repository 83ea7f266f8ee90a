// The OpenAI-compatible provider (OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp via baseURL):
// chat completions, plain or streamed, with tool calls; bounded retries on 429/5xx only;
// aborts upstream when its signal fires; bounded accumulation of whatever the server sends.
import OpenAI from "openai";
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from "openai/resources/chat/completions";
import {
  type Completion,
  type CompletionRequest,
  countedUsage,
  type ModelMessage,
  type ModelProvider,
  type ModelToolCall,
  type ModelUsage,
} from "./provider.ts";

export interface OpenAIProviderOptions {
  apiKey: string;
  baseURL?: string;
  model: string;
  /** Attempts in all (first call + retries), each retry only after a 429 or 5xx. */
  maxAttempts?: number;
  /** First backoff; doubled per retry, with jitter, and capped by `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

/** The upstream answered in a way we cannot use (bad chunk, oversized output). */
export class UpstreamError extends Error {}

// A hostile or broken upstream must not exhaust memory.
const MAX_TEXT_CHARS = 200_000;
const MAX_TOOL_CALLS = 16;
const MAX_ARGUMENT_CHARS = 16_384;

function toOpenAIMessage(message: ModelMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case "tool":
      return { role: "tool", tool_call_id: message.toolCallId, content: message.content };
    case "assistant":
      return message.toolCalls && message.toolCalls.length > 0
        ? {
            role: "assistant",
            content: message.content || null,
            tool_calls: message.toolCalls.map((c) => ({
              id: c.id,
              type: "function" as const,
              function: { name: c.name, arguments: c.arguments },
            })),
          }
        : { role: "assistant", content: message.content };
    default:
      return { role: message.role, content: message.content };
  }
}

function retryable(error: unknown): boolean {
  return (
    error instanceof OpenAI.APIError &&
    typeof error.status === "number" &&
    (error.status === 429 || error.status >= 500)
  );
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

class ToolCallAccumulator {
  private readonly calls: ModelToolCall[] = [];

  add(delta: NonNullable<ChatCompletionChunk.Choice.Delta["tool_calls"]>[number]): void {
    if (delta.index >= MAX_TOOL_CALLS) throw new UpstreamError("too many tool calls");
    let call = this.calls[delta.index];
    if (!call) {
      call = { id: "", name: "", arguments: "" };
      this.calls[delta.index] = call;
    }
    if (delta.id) call.id = delta.id;
    if (delta.function?.name) call.name += delta.function.name;
    if (delta.function?.arguments) call.arguments += delta.function.arguments;
    if (call.arguments.length > MAX_ARGUMENT_CHARS || call.name.length > 256) {
      throw new UpstreamError("tool call too large");
    }
  }

  result(): ModelToolCall[] {
    return this.calls.filter((c): c is ModelToolCall => c !== undefined && c.name !== "");
  }
}

export class OpenAIProvider implements ModelProvider {
  readonly name = "openai";
  private readonly client: OpenAI;
  private readonly maxAttempts: number;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: OpenAIProviderOptions) {
    // The SDK's own retries would also retry 408/409 and connection errors, and outlive the
    // caller's deadline; ours are bounded by the request signal.
    this.client = new OpenAI({
      apiKey: options.apiKey,
      baseURL: options.baseURL,
      maxRetries: 0,
      logLevel: "off",
    });
    this.maxAttempts = options.maxAttempts ?? 3;
    this.baseBackoffMs = options.baseBackoffMs ?? 250;
    this.maxBackoffMs = options.maxBackoffMs ?? 4000;
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    for (let attempt = 1; ; attempt++) {
      try {
        return request.onDelta ? await this.streamed(request, request.onDelta) : await this.plain(request);
      } catch (error) {
        // A stream that already delivered text cannot be retried without repeating it; the
        // streamed path only throws retryable errors before its first delta.
        if (!retryable(error) || attempt >= this.maxAttempts || request.signal?.aborted) throw error;
        await sleep(this.backoff(attempt, error), request.signal);
      }
    }
  }

  private backoff(attempt: number, error: unknown): number {
    const exponential = this.baseBackoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5);
    const headers = error instanceof OpenAI.APIError ? error.headers : undefined;
    const afterMs = Number(headers?.get("retry-after-ms") ?? Number.NaN);
    const afterSeconds = Number(headers?.get("retry-after") ?? Number.NaN) * 1000;
    const hinted = Number.isFinite(afterMs) ? afterMs : Number.isFinite(afterSeconds) ? afterSeconds : 0;
    return Math.min(this.maxBackoffMs, Math.max(exponential, hinted));
  }

  private params(request: CompletionRequest): ChatCompletionCreateParamsBase {
    const tools: ChatCompletionTool[] | undefined = request.tools?.length
      ? request.tools.map((t) => ({
          type: "function" as const,
          function: { name: t.name, description: t.description, parameters: t.parameters },
        }))
      : undefined;
    return {
      model: this.options.model,
      messages: request.messages.map(toOpenAIMessage),
      // `max_tokens` rather than `max_completion_tokens`: the compatible servers all accept it.
      max_tokens: request.grant.maxOutputTokens,
      ...(request.sampling?.temperature === undefined ? {} : { temperature: request.sampling.temperature }),
      ...(request.sampling?.topP === undefined ? {} : { top_p: request.sampling.topP }),
      ...(request.sampling?.stop === undefined ? {} : { stop: request.sampling.stop }),
      ...(tools ? { tools } : {}),
    };
  }

  private async plain(request: CompletionRequest): Promise<Completion> {
    const response = await this.client.chat.completions.create(
      { ...this.params(request), stream: false },
      { signal: request.signal },
    );
    const message = response.choices[0]?.message;
    if (!message) throw new UpstreamError("no choice in the response");
    const text = message.content ?? "";
    if (text.length > MAX_TEXT_CHARS) throw new UpstreamError("output too large");
    const toolCalls = (message.tool_calls ?? [])
      .slice(0, MAX_TOOL_CALLS)
      .flatMap((c): ModelToolCall[] =>
        c.type === "function" ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [],
      );
    return {
      text,
      model: response.model || this.options.model,
      usage: response.usage
        ? { inputTokens: response.usage.prompt_tokens, outputTokens: response.usage.completion_tokens }
        : countedUsage(request, text, toolCalls),
      toolCalls,
    };
  }

  private async streamed(request: CompletionRequest, onDelta: (text: string) => void): Promise<Completion> {
    const stream = await this.client.chat.completions.create(
      { ...this.params(request), stream: true, stream_options: { include_usage: true } },
      { signal: request.signal },
    );
    let text = "";
    let model = this.options.model;
    let usage: ModelUsage | null = null;
    const toolCalls = new ToolCallAccumulator();
    for await (const chunk of stream) {
      if (chunk.model) model = chunk.model;
      if (chunk.usage) {
        usage = { inputTokens: chunk.usage.prompt_tokens, outputTokens: chunk.usage.completion_tokens };
      }
      const delta = chunk.choices?.[0]?.delta;
      if (!delta) continue;
      for (const call of delta.tool_calls ?? []) toolCalls.add(call);
      if (delta.content) {
        text += delta.content;
        if (text.length > MAX_TEXT_CHARS) throw new UpstreamError("output too large");
        onDelta(delta.content);
      }
    }
    // The SDK ends an aborted stream quietly; an aborted turn must not look complete.
    request.signal?.throwIfAborted();
    const calls = toolCalls.result();
    return { text, model, usage: usage ?? countedUsage(request, text, calls), toolCalls: calls };
  }
}
