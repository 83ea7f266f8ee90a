// chatStream's event stream: model deltas pass through the output guard (which holds back a
// window so a leak is cut before it reaches the client), then `done` or `error`, the last event
// (recordCall writes the final record before it leaves; the deltas are the audit output).
// Failures before the first event are thrown, so the caller gets a normal refusal; after it, an
// `error` event.
import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { linkedAbort } from "../abort.ts";
import type { AdmittedContext } from "../context.ts";
import { type Reason, reasonOf } from "../errors.ts";
import { createOutputStreamGuard } from "../guard/output.ts";
import type { ModelUsage } from "../model/provider.ts";
import { noteOutputCheck } from "./prompt-guard.ts";
import { outputCheckOptions, type PromptFrame } from "./prompts.ts";
import type { ConversationResult, ToolCallReport } from "./tool-loop.ts";

export type ChatStreamEvent =
  | { type: "delta"; text: string }
  | { type: "done"; usage: ModelUsage; requestId: string; toolCalls: ToolCallReport[]; flags: string[] }
  | { type: "error"; code: TRPC_ERROR_CODE_KEY; reason: Reason; requestId: string; flags: string[] };

/** Model deltas, produced by a callback and consumed as an async iterable (coalesced). */
class DeltaQueue implements AsyncIterable<string> {
  private pending: string[] = [];
  private ended = false;
  private failure: { error: unknown } | null = null;
  private wake: (() => void) | null = null;

  push(text: string): void {
    this.pending.push(text);
    this.notify();
  }
  close(): void {
    this.ended = true;
    this.notify();
  }
  fail(error: unknown): void {
    this.failure = { error };
    this.notify();
  }
  private notify(): void {
    this.wake?.();
    this.wake = null;
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<string> {
    for (;;) {
      if (this.pending.length > 0) {
        const text = this.pending.join("");
        this.pending = [];
        yield text;
      } else if (this.failure) {
        throw this.failure.error;
      } else if (this.ended) {
        return;
      } else {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    }
  }
}

export type ConversationRun = (
  onDelta: (text: string) => void,
  signal: AbortSignal,
) => Promise<ConversationResult>;

/**
 * Starts the conversation and waits for the first guarded text (or the end): a refusal before
 * that is thrown. Returns the event stream; leaving it early aborts the model.
 */
export async function startChatStream(
  ctx: AdmittedContext,
  frame: PromptFrame,
  run: ConversationRun,
  clientSignal: AbortSignal | undefined,
): Promise<AsyncGenerator<ChatStreamEvent>> {
  const stop = linkedAbort([clientSignal]);
  const deltas = new DeltaQueue();
  const finished = run((text) => deltas.push(text), stop.signal).then(
    (result) => {
      deltas.close();
      return result;
    },
    (error: unknown) => {
      deltas.fail(error);
      throw error;
    },
  );
  // The failure is delivered through the queue; this branch only keeps it from going unhandled.
  finished.catch(() => undefined);

  const guard = createOutputStreamGuard(outputCheckOptions(frame, ctx.config.outputLinkHosts));
  const release = (out: { emit: string; blocked: boolean; flags: string[] }) => {
    noteOutputCheck(ctx, out);
    return out.emit;
  };
  async function* guarded(): AsyncGenerator<string, ConversationResult> {
    for await (const delta of deltas) {
      const text = release(guard.push(delta));
      if (text) yield text;
    }
    const result = await finished;
    const text = release(guard.end());
    if (text) yield text;
    return result;
  }

  const texts = guarded();
  let first: IteratorResult<string, ConversationResult>;
  try {
    first = await texts.next();
  } catch (error) {
    stop.abort();
    stop.dispose();
    throw error;
  }

  const requestId = ctx.request.requestId;
  return (async function* events(): AsyncGenerator<ChatStreamEvent> {
    try {
      let step = first;
      while (!step.done) {
        yield { type: "delta", text: step.value };
        step = await texts.next();
      }
      yield {
        type: "done",
        usage: ctx.call.usage ?? { inputTokens: 0, outputTokens: 0 },
        requestId,
        toolCalls: step.value.toolCalls,
        flags: ctx.call.flags,
      };
    } catch (cause) {
      const error =
        cause instanceof TRPCError ? cause : new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause });
      if (!(cause instanceof TRPCError)) ctx.logger.error("chat stream failed", { requestId, cause });
      yield { type: "error", code: error.code, reason: reasonOf(error), requestId, flags: ctx.call.flags };
    } finally {
      // The consumer left, or the stream ended: the model must not keep generating.
      stop.abort();
      stop.dispose();
    }
  })();
}
