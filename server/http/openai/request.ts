// The OpenAI chat-completions request, parsed strictly and mapped onto `chat`'s input: every
// parameter scopegate does not enforce is refused by name (one strict schema), never dropped.
import { z } from "zod";
import { type chatInput, MAX_OUTPUT_TOKENS } from "../../routers/ai.ts";

const textPart = z.strictObject({ type: z.literal("text"), text: z.string() });

const message = z.strictObject({
  // `tool` turns and assistant `tool_calls` belong to client-side tools, which are refused.
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: z.union([z.string(), z.array(textPart).min(1)]),
});

const tokenCap = z.number().int().min(1).nullish();

// Parameters accepted only at their default: anything else would change what the model does
// in a way scopegate cannot enforce or report (several choices, log probabilities, penalties).
const defaultOnly = <T extends z.core.util.Literal>(value: T) => z.literal(value).nullish();

// scopegate's own extension (`extra_body` in the SDKs): the server-side tools to offer and the
// documents to ground on, each under chat's scope rules (`tool:<name>`, `db:<source>`). Their
// contents are validated by chat's own input schema.
const extension = z.strictObject({
  tools: z.array(z.string()).optional(),
  documents: z.array(z.unknown()).optional(),
});

const completionRequest = z
  .strictObject({
    model: z.string().min(1).max(256),
    messages: z.array(message).min(1),
    stream: z.boolean().nullish(),
    stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullish(),
    max_tokens: tokenCap,
    max_completion_tokens: tokenCap,
    user: z.string().nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    stop: z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(4)]).nullish(),
    n: defaultOnly(1),
    logprobs: defaultOnly(false),
    presence_penalty: defaultOnly(0),
    frequency_penalty: defaultOnly(0),
    scopegate: extension.nullish(),
  })
  .refine((r) => r.stream === true || r.stream_options == null, {
    message: "stream_options is only allowed when stream is true.",
    path: ["stream_options"],
  });

export interface CompletionCall {
  /** The model the caller named; it must be one the key may use. */
  model: string;
  stream: boolean;
  includeUsage: boolean;
  /** OpenAI's `user`, mapped to the end-user binding (as `x-end-user`). */
  user: string | undefined;
  input: ChatInput;
}

type ChatInput = z.input<typeof chatInput>;

export interface RequestProblem {
  /** The offending parameter in OpenAI's notation (`messages[0].content[1].type`). */
  param: string | null;
  message: string;
}

export type ParsedCompletion = { ok: true; call: CompletionCall } | { ok: false; problem: RequestProblem };

export function parseCompletionRequest(body: unknown): ParsedCompletion {
  const parsed = completionRequest.safeParse(body);
  if (!parsed.success) return { ok: false, problem: problemOf(parsed.error) };
  const request = parsed.data;
  const cap = request.max_completion_tokens ?? request.max_tokens;
  const sampling = {
    ...(request.temperature == null ? {} : { temperature: request.temperature }),
    ...(request.top_p == null ? {} : { topP: request.top_p }),
    ...(request.stop == null
      ? {}
      : { stop: typeof request.stop === "string" ? [request.stop] : request.stop }),
  };
  return {
    ok: true,
    call: {
      model: request.model,
      stream: request.stream === true,
      includeUsage: request.stream_options?.include_usage === true,
      user: request.user ?? undefined,
      input: {
        // The system prompt is scopegate's: a caller's system turns are screened and sent as its
        // own (user) words beneath it, never with the gateway's authority.
        messages: request.messages.map((m) => ({
          role: m.role === "assistant" ? "assistant" : "user",
          content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join(""),
        })),
        ...(request.scopegate?.tools ? { tools: request.scopegate.tools as ChatInput["tools"] } : {}),
        ...(request.scopegate?.documents
          ? { documents: request.scopegate.documents as ChatInput["documents"] }
          : {}),
        ...(Object.keys(sampling).length > 0 ? { sampling } : {}),
        // Capped by the reservation: the pipeline never reserves more than its own maximum.
        ...(cap == null ? {} : { maxTokens: Math.min(cap, MAX_OUTPUT_TOKENS) }),
      },
    },
  };
}

type Issue = z.core.$ZodIssue;

/** The most specific issue: inside a union (content as string or parts), the deepest branch's. */
function deepest(issue: Issue, prefix: readonly PropertyKey[] = []): { issue: Issue; path: PropertyKey[] } {
  const path = [...prefix, ...issue.path];
  if (issue.code !== "invalid_union") return { issue, path };
  let best: { issue: Issue; path: PropertyKey[] } = { issue, path };
  for (const inner of issue.errors.flat()) {
    const found = deepest(inner, path);
    if (found.path.length > best.path.length) best = found;
  }
  return best;
}

function problemOf(error: z.ZodError): RequestProblem {
  const first = error.issues[0];
  if (!first) return { param: null, message: "Invalid request." };
  const { issue, path } = deepest(first);
  if (issue.code === "unrecognized_keys") {
    const param = paramName([...path, issue.keys[0] ?? ""]);
    return {
      param,
      message: `Unsupported parameter: '${param}'. This gateway refuses what it does not enforce (client-side tools, response formats, images, audio) rather than dropping it.`,
    };
  }
  const param = paramName(path);
  return { param: param || null, message: `Invalid value for '${param || "body"}': ${issue.message}` };
}

/** `["messages", 0, "content"]` → `messages[0].content`, as OpenAI names parameters. */
export function paramName(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`))
    .join("");
}
