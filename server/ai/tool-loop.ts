// A model conversation with tools, gated outside the model: a bounded number of rounds; each
// tool call the model issues runs only if the tool was offered to this caller (requested, held,
// allowed for the key's env) and its arguments pass the tool's strict schema. Anything else is
// refused, recorded as an `event` on the call's call_id, never executed, and told to the model.
import type { AuditRecord } from "../audit/record.ts";
import type { Principal } from "../auth/principal.ts";
import type { AdmittedContext } from "../context.ts";
import { withDatabase } from "../db-errors.ts";
import { clientClosed, type Reason, ScopegateError } from "../errors.ts";
import { spotlightDocuments } from "../guard/spotlight.ts";
import { identifier, modelEcho, type PromptText, prompt } from "../guard/untrusted.ts";
import type { ModelMessage, ModelTask, ModelToolCall, Sampling } from "../model/provider.ts";
import { toolSpec } from "../tools/registry.ts";
import type { Tool } from "../tools/tool.ts";
import { ToolFailure } from "../tools/tool-failure.ts";
import { callModel } from "./model-call.ts";
import { screenDocument } from "./prompt-guard.ts";
import type { PromptFrame } from "./prompts.ts";

/** Rounds in which the model may call tools; the round after them offers none. */
export const MAX_TOOL_ROUNDS = 4;
const MAX_CALLS_PER_ROUND = 8;
// Names and ids come from the model: bounded before they reach the audit log or the prompt.
const MAX_NAME_CHARS = 64;
const MAX_ID_CHARS = 128;

export type ToolCallStatus = "ok" | "refused" | "invalid_arguments" | "failed";

/** What happened to one tool call, as reported in chat's `toolCalls`. */
export interface ToolCallReport {
  id: string;
  name: string;
  status: ToolCallStatus;
}

export interface ConversationOptions {
  /** The procedure path, for event records. */
  path: string;
  principal: Principal;
  messages: ModelMessage[];
  task: ModelTask;
  tools: Tool[];
  frame: PromptFrame;
  maxOutputTokens: number;
  sampling?: Sampling;
  signal?: AbortSignal;
  onDelta?: (text: string) => void;
}

export interface ConversationResult {
  text: string;
  toolCalls: ToolCallReport[];
}

interface Dispatched {
  report: ToolCallReport;
  /** The tool message the model sees. */
  content: PromptText;
}

async function recordToolEvent(
  ctx: AdmittedContext,
  options: ConversationOptions,
  reason: Reason,
  report: ToolCallReport,
): Promise<void> {
  const record: AuditRecord = {
    phase: "event",
    requestId: ctx.request.requestId,
    callId: ctx.call.callId,
    keyId: options.principal.keyId,
    owner: options.principal.owner,
    endUser: options.principal.endUser,
    procedure: options.path,
    outcome: "denied",
    reason,
    details: { tool: report.name, toolCallId: report.id },
    clientAddress: ctx.request.clientAddress,
  };
  await withDatabase(() => ctx.audit.append(record));
}

function parseArguments(tool: Tool, raw: string): { ok: true; value: unknown } | { ok: false } {
  try {
    const parsed = tool.args.safeParse(JSON.parse(raw.trim() === "" ? "{}" : raw));
    return parsed.success ? { ok: true, value: parsed.data } : { ok: false };
  } catch {
    return { ok: false };
  }
}

async function dispatch(
  ctx: AdmittedContext,
  options: ConversationOptions,
  offered: ReadonlyMap<string, Tool>,
  call: ModelToolCall,
): Promise<Dispatched> {
  const report: ToolCallReport = {
    id: call.id.slice(0, MAX_ID_CHARS),
    name: call.name.slice(0, MAX_NAME_CHARS),
    status: "refused",
  };
  const tool = offered.get(call.name);
  if (!tool) {
    await recordToolEvent(ctx, options, "tool_not_permitted", report);
    return {
      report,
      content: prompt`Refused: the tool "${identifier(report.name)}" is not permitted for this caller. It was not run; do not try it again.`,
    };
  }
  const args = parseArguments(tool, call.arguments);
  if (!args.ok) {
    report.status = "invalid_arguments";
    await recordToolEvent(ctx, options, "invalid_input", report);
    return {
      report,
      content: prompt`Refused: invalid arguments for "${identifier(tool.name)}". It was not run.`,
    };
  }
  try {
    const signal = options.signal ?? new AbortController().signal;
    const raw = await tool.execute(args.value, {
      principal: options.principal,
      db: ctx.database.db,
      logger: ctx.logger,
      signal,
    });
    // Tools answer JSON: screened as parsed, so no escape sequence hides a character from the guard.
    const body = screenDocument(ctx, raw, { json: true });
    report.status = "ok";
    return {
      report,
      content: spotlightDocuments(
        [{ body, source: `tool:${tool.name}`, id: report.id }],
        options.frame.boundary,
      ),
    };
  } catch (cause) {
    if (options.signal?.aborted) throw clientClosed(cause);
    // Fail closed: a database outage is the caller's 503, not a tool result.
    if (cause instanceof ScopegateError) throw cause;
    ctx.logger.warn("tool failed", { requestId: ctx.request.requestId, tool: tool.name, cause });
    report.status = "failed";
    const why = cause instanceof ToolFailure ? cause.detail : prompt`the tool failed`;
    return { report, content: prompt`The tool "${identifier(tool.name)}" failed: ${why}.` };
  }
}

export async function runConversation(
  ctx: AdmittedContext,
  options: ConversationOptions,
): Promise<ConversationResult> {
  const messages = [...options.messages];
  const offered = new Map(options.tools.map((t) => [t.name as string, t]));
  const specs = options.tools.map(toolSpec);
  const reports: ToolCallReport[] = [];
  const texts: string[] = [];
  // Rounds' texts are joined by a newline in the answer, streamed or not.
  let separate = false;
  const emit = options.onDelta;
  const onDelta = emit
    ? (text: string) => {
        if (separate) emit("\n");
        separate = false;
        emit(text);
      }
    : undefined;
  for (let round = 0; ; round++) {
    const mayUseTools = round < MAX_TOOL_ROUNDS && specs.length > 0;
    separate = texts.some((t) => t !== "");
    const completion = await callModel(
      ctx,
      {
        messages,
        task: options.task,
        ...(mayUseTools ? { tools: specs } : {}),
        maxOutputTokens: options.maxOutputTokens,
        ...(options.sampling ? { sampling: options.sampling } : {}),
        ...(onDelta ? { onDelta } : {}),
      },
      options.signal,
    );
    texts.push(completion.text);
    const calls = completion.toolCalls ?? [];
    if (calls.length === 0) break;
    // Past the last tool round nothing is offered, so every further call is refused.
    const usable = mayUseTools ? offered : new Map<string, Tool>();
    messages.push({ role: "assistant", content: modelEcho(completion.text), toolCalls: calls });
    for (const [n, call] of calls.entries()) {
      const done = await dispatch(ctx, options, n < MAX_CALLS_PER_ROUND ? usable : new Map(), call);
      reports.push(done.report);
      messages.push({ role: "tool", toolCallId: call.id, content: done.content });
    }
    if (!mayUseTools) break;
  }
  return { text: texts.filter((t) => t !== "").join("\n"), toolCalls: reports };
}
