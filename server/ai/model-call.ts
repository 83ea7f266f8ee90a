// Calls the model for one turn under the configured per-call timeout, with the client's signal
// (a client that leaves aborts the upstream request), and maps provider failures to the
// design's errors: BAD_GATEWAY `model_error`, GATEWAY_TIMEOUT `model_timeout`.
import { linkedAbort } from "../abort.ts";
import type { Context } from "../context.ts";
import { clientClosed, ScopegateError, shuttingDown } from "../errors.ts";
import { OfflineProvider } from "../model/offline.ts";
import type { Completion, CompletionRequest, ModelProvider } from "../model/provider.ts";
import type { CallState } from "../trpc.ts";

type ModelContext = Context & { call: CallState };

// Stateless and network-free; what `test` keys use whatever the server is configured with.
const offline = new OfflineProvider();

/** The provider for this caller: `test` keys may use only the offline model. */
export function providerFor(ctx: ModelContext): ModelProvider {
  return ctx.call.principal?.env === "test" && ctx.model.name !== "offline" ? offline : ctx.model;
}

export async function callModel(
  ctx: ModelContext,
  request: Omit<CompletionRequest, "signal">,
  clientSignal?: AbortSignal,
): Promise<Completion> {
  clientSignal?.throwIfAborted();
  if (ctx.shutdown.aborted) throw shuttingDown();
  const abort = linkedAbort([ctx.shutdown, clientSignal], ctx.config.model.timeoutMs);
  const started = performance.now();
  try {
    const completion = await providerFor(ctx).complete({ ...request, signal: abort.signal });
    const usage = ctx.call.usage;
    ctx.call.model = completion.model;
    // Tool rounds add up: the key is charged for every turn.
    ctx.call.usage = {
      inputTokens: (usage?.inputTokens ?? 0) + completion.usage.inputTokens,
      outputTokens: (usage?.outputTokens ?? 0) + completion.usage.outputTokens,
    };
    return completion;
  } catch (cause) {
    if (cause instanceof ScopegateError) throw cause;
    if (ctx.shutdown.aborted) throw shuttingDown(cause);
    if (clientSignal?.aborted) throw clientClosed(cause);
    if (abort.timedOut) {
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
  } finally {
    abort.dispose();
    ctx.metrics.observeStage("model", (performance.now() - started) / 1000);
  }
}
