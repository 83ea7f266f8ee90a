// Calls the configured model under the configured timeout and maps provider failures to the
// design's errors (BAD_GATEWAY `model_error`, GATEWAY_TIMEOUT `model_timeout`).
import type { Context } from "../context.ts";
import { ScopegateError } from "../errors.ts";
import type { Completion, CompletionRequest } from "../model/provider.ts";
import type { CallState } from "../trpc.ts";

export async function callModel(
  ctx: Context & { call: CallState },
  request: Omit<CompletionRequest, "signal">,
  clientSignal?: AbortSignal,
): Promise<Completion> {
  const timeout = AbortSignal.timeout(ctx.config.model.timeoutMs);
  const signal = clientSignal ? AbortSignal.any([timeout, clientSignal]) : timeout;
  try {
    const completion = await ctx.model.complete({ ...request, signal });
    ctx.call.model = completion.model;
    ctx.call.usage = completion.usage;
    return completion;
  } catch (cause) {
    if (cause instanceof ScopegateError) throw cause;
    if (timeout.aborted) {
      throw new ScopegateError(
        "GATEWAY_TIMEOUT",
        "model_timeout",
        "The model did not answer in time.",
        {},
        cause,
      );
    }
    ctx.logger.warn("model call failed", { requestId: ctx.request.requestId, cause });
    throw new ScopegateError("BAD_GATEWAY", "model_error", "The model provider failed.", {}, cause);
  }
}
