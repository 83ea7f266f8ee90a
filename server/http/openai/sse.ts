// OpenAI's streaming wire format: `data: <chunk JSON>\n\n` per event, `data: [DONE]\n\n` last,
// written with `res.write` backpressure (a slow reader pauses the stream, not the heap).
import type { ServerResponse } from "node:http";
import type { ModelUsage } from "../../model/provider.ts";

export const DONE = "data: [DONE]\n\n";

export const sseEvent = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`;

export interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
}

export function openAiUsage(usage: ModelUsage) {
  return {
    prompt_tokens: usage.inputTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: usage.inputTokens + usage.outputTokens,
  };
}

/** One `chat.completion.chunk`; with include_usage every chunk carries `usage: null` but the last. */
export function chunk(
  identity: CompletionIdentity,
  choice: { delta: { role?: "assistant"; content?: string }; finish_reason: "stop" | null } | null,
  usage: ModelUsage | null | undefined,
) {
  return {
    id: identity.id,
    object: "chat.completion.chunk",
    created: identity.created,
    model: identity.model,
    system_fingerprint: null,
    choices: choice
      ? [{ index: 0, delta: choice.delta, logprobs: null, finish_reason: choice.finish_reason }]
      : [],
    ...(usage === undefined ? {} : { usage: usage && openAiUsage(usage) }),
  };
}

/**
 * Writes and, when the socket's buffer is full, waits for it to drain. Resolves false once the
 * client has gone (nothing more is written).
 */
export function writeEvent(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (open: boolean) => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(open);
    };
    const onDrain = () => settle(true);
    const onClose = () => settle(false);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
}
