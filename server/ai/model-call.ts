// Calls the model for one turn under the call's token budget and the configured per-call
// timeout, with the client's signal (a client that leaves aborts the upstream request), and maps
// provider failures to the design's errors: BAD_GATEWAY `model_error`, GATEWAY_TIMEOUT `model_timeout`.
import { linkedAbort } from "../abort.ts";
import type { AdmittedContext, AuthorizedContext } from "../context.ts";
import { clientClosed, ScopegateError, shuttingDown } from "../errors.ts";
import type { ModelGrant } from "../limits/token-budget.ts";
import { OfflineProvider } from "../model/offline.ts";
import {
  type Completion,
  type CompletionRequest,
  estimateTokens,
  type ModelProvider,
  type ModelUsage,
  promptTokens,
} from "../model/provider.ts";

// Stateless and network-free; what `test` keys use whatever the server is configured with.
const offline = new OfflineProvider();

/** The provider for this caller: `test` keys may use only the offline model. */
export function providerFor(ctx: AuthorizedContext): ModelProvider {
  return ctx.principal.env === "test" && ctx.model.name !== "offline" ? offline : ctx.model;
}

/** One model round as the pipeline asks for it: the output cap it wants, no grant yet. */
export type ModelRound = Omit<CompletionRequest, "signal" | "grant"> & { maxOutputTokens: number };

/**
 * The one way the pipeline calls a model: the round is covered by the call's token budget first
 * (reserving more on the key lineage if needed, else `budget_exhausted`), the model's output cap
 * is the grant's, and the round is charged what it used, never more than the grant.
 */
export async function callModel(
  ctx: AdmittedContext,
  round: ModelRound,
  clientSignal?: AbortSignal,
): Promise<Completion> {
  clientSignal?.throwIfAborted();
  if (ctx.shutdown.aborted) throw shuttingDown();
  // Only admitted calls have a budget (the type says so): nothing else reaches a model.
  const budget = ctx.budget;
  const { maxOutputTokens, onDelta, ...request } = round;
  const grant = await budget.cover({
    inputTokens: promptTokens(request.messages, request.tools),
    maxOutputTokens,
  });
  const counted = onDelta
    ? (text: string) => {
        grant.noteStreamed(estimateTokens(text));
        onDelta(text);
      }
    : undefined;
  const abort = linkedAbort([ctx.shutdown, clientSignal], ctx.config.model.timeoutMs);
  const started = performance.now();
  try {
    const completion = await providerFor(ctx).complete({
      ...request,
      ...(counted ? { onDelta: counted } : {}),
      grant,
      signal: abort.signal,
    });
    return { ...completion, usage: chargeRound(ctx, grant, completion.usage, completion.model) };
  } catch (cause) {
    // A stream cut off after text went out still used that much: the round is not free. (If the
    // call's final record is written first, settlement charges the same from the open grant.)
    const unfinished = grant.unfinishedCharge;
    if (unfinished > 0) {
      chargeRound(
        ctx,
        grant,
        { inputTokens: grant.inputTokens, outputTokens: unfinished - grant.inputTokens },
        null,
      );
    }
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

/** Charges one round (capped by its grant) and records it for the call; tool rounds add up. */
function chargeRound(
  ctx: AdmittedContext,
  grant: ModelGrant,
  used: ModelUsage,
  model: string | null,
): ModelUsage {
  const { capped, ...charged } = grant.charge(used);
  ctx.call.modelRound(charged, { model, capped });
  if (capped) {
    // The provider reported more than the round reserved: the key is charged the reservation.
    ctx.logger.warn("model usage above its reservation", {
      requestId: ctx.request.requestId,
      reported: used,
      charged,
    });
  }
  return charged;
}
