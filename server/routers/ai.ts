// The model-backed procedures: summarizeDoc, chat and chatStream. Each screens the caller's
// text (a blocked prompt never reaches the model), spotlights documents as data under a fresh
// boundary, offers only the tools the key may use, and checks the output before it leaves.
import { and, eq, or, sql } from "drizzle-orm";
import { z } from "zod";
import { documents } from "../../db/index.ts";
import { startChatStream } from "../ai/chat-stream.ts";
import { callModel } from "../ai/model-call.ts";
import { screenDocument, screenOutput, screenPrompts } from "../ai/prompt-guard.ts";
import {
  CHAT_SYSTEM_PROMPT,
  framePrompt,
  outputCheckOptions,
  SUMMARIZE_SYSTEM_PROMPT,
} from "../ai/prompts.ts";
import { type ConversationOptions, runConversation } from "../ai/tool-loop.ts";
import { dataSourceScope, type Scope, toolScope } from "../auth/scopes.ts";
import type { AdmittedContext, Context } from "../context.ts";
import { withDatabase } from "../db-errors.ts";
import { type DocumentRef, documentRef } from "../documents/schemas.ts";
import { findDocument } from "../documents/store.ts";
import { fail } from "../errors.ts";
import { spotlightDocuments } from "../guard/spotlight.ts";
import { type PromptText, prompt } from "../guard/untrusted.ts";
import { estimateTokens, type ModelMessage, messageTokens, promptTokens } from "../model/provider.ts";
import { TOOL_NAMES, type ToolName } from "../tools/names.ts";
import { createToolRegistry, offeredTools, toolSpec } from "../tools/registry.ts";
import { scopedProcedure } from "../trpc.ts";

export const MAX_TEXT_CHARS = 200_000;
const MAX_MESSAGE_CHARS = 32_000;
export const MAX_OUTPUT_TOKENS = 1024;
const summaryTokens = (maxWords: number) => Math.min(MAX_OUTPUT_TOKENS, maxWords * 2);

export const summarizeDocInput = z
  .strictObject({
    text: z.string().min(1).max(MAX_TEXT_CHARS).optional(),
    document: documentRef.optional(),
    maxWords: z.number().int().min(5).max(1000).default(120),
    instruction: z.string().min(1).max(2000).optional(),
  })
  .refine((v) => (v.text === undefined) !== (v.document === undefined), {
    message: "give exactly one of text or document",
    path: ["text"],
  });

/** Each document once: a repeated reference would only send the same text twice. */
const documentRefs = z
  .array(documentRef)
  .max(10)
  .refine((refs) => new Set(refs.map((r) => `${r.source}/${r.id.toLowerCase()}`)).size === refs.length, {
    message: "each document may be referenced once",
  });

export const chatInput = z.strictObject({
  // Callers speak as user or assistant only; the system prompt is ours.
  messages: z
    .array(
      z.strictObject({
        role: z.enum(["user", "assistant"]),
        content: z.string().min(1).max(MAX_MESSAGE_CHARS),
      }),
    )
    .min(1)
    .max(50)
    .refine((m) => m.some((x) => x.role === "user"), { message: "at least one user message" }),
  documents: documentRefs.optional(),
  /** Tools the caller wants offered to the model; each needs `tool:<name>`. */
  tools: z.array(z.enum(TOOL_NAMES)).max(TOOL_NAMES.length).optional(),
  /** A lower cap on the answer (OpenAI's `max_tokens`); the reservation shrinks with it. */
  maxTokens: z.number().int().min(1).max(MAX_OUTPUT_TOKENS).optional(),
  /** OpenAI's temperature, top_p and stop, passed to the model. */
  sampling: z
    .strictObject({
      temperature: z.number().min(0).max(2).optional(),
      topP: z.number().min(0).max(1).optional(),
      stop: z.array(z.string().min(1).max(256)).max(4).optional(),
    })
    .optional(),
});

async function loadDocuments(ctx: Context, refs: readonly DocumentRef[]) {
  return withDatabase(async () => {
    const found = [];
    for (const ref of refs) {
      const doc = await findDocument(ctx.database.db, ref.source, ref.id);
      if (!doc) fail("NOT_FOUND", "not_found", `No document ${ref.id} in source ${ref.source}.`);
      found.push(doc);
    }
    return found;
  });
}

// Around each spotlighted text: its boundary markers and attributes, and the words that
// introduce it.
const SPOTLIGHT_OVERHEAD_TOKENS = 64;

/** Datamarking turns each run of blanks into a mark the estimate counts as a token. */
const datamarks = (text: string) => text.match(/[ \t]+/g)?.length ?? 0;

/**
 * What admission reserves: the first model round as it will be built (system frame, the
 * caller's turns, every spotlighted text and referenced document, the tools offered) plus its
 * output cap. It errs high (the rest is given back at settlement), since the budget tops it up
 * before any round that needs more (model-call.ts), which costs a transaction.
 */
async function reserveFor(
  ctx: Context,
  round: {
    instructions: PromptText;
    /** The caller's own turns, as they are. */
    turns: readonly string[];
    /** Text sent in the request to be read as data (spotlighted). */
    inline?: readonly string[];
    refs: readonly DocumentRef[];
    tools?: readonly ToolName[];
    maxOutputTokens: number;
  },
): Promise<number> {
  const inline = round.inline ?? [];
  let documentTokens = 0;
  if (round.refs.length > 0) {
    // Addressed by source and id, like every read: only documents in held sources are measured.
    // References are unique (the input schema refuses repeats), so each row is one reference.
    // As estimateTokens counts, bounded above: a quarter of the characters, every byte past the
    // first of a non-ASCII character, and a datamark per space.
    const [row] = await withDatabase(() =>
      ctx.database.db
        .select({
          tokens: sql<number>`coalesce(sum(
            ceil((length(${documents.body}) + length(${documents.title})) / 4.0)
            + octet_length(${documents.body}) - length(${documents.body})
            + octet_length(${documents.title}) - length(${documents.title})
            + length(${documents.body}) - length(replace(${documents.body}, ' ', ''))), 0)::int`,
        })
        .from(documents)
        .where(or(...round.refs.map((r) => and(eq(documents.source, r.source), eq(documents.id, r.id))))),
    );
    documentTokens = Number(row?.tokens ?? 0);
  }
  const registry = createToolRegistry(ctx.config);
  const tools = (round.tools ?? []).flatMap((name) => {
    const tool = registry.get(name);
    return tool ? [toolSpec(tool)] : [];
  });
  const frame: ModelMessage = { role: "system", content: framePrompt(round.instructions).system };
  return (
    promptTokens([frame], tools) +
    round.turns.reduce((sum, text) => sum + messageTokens(text), 0) +
    inline.reduce((sum, text) => sum + estimateTokens(text) + datamarks(text), 0) +
    documentTokens +
    (round.refs.length + inline.length) * SPOTLIGHT_OVERHEAD_TOKENS +
    round.maxOutputTokens
  );
}

function inputScopesOfChat(input: z.output<typeof chatInput>): Scope[] {
  return [
    ...(input.documents ?? []).map((d) => dataSourceScope(d.source)),
    ...(input.tools ?? []).map(toolScope),
  ];
}

interface PreparedChat {
  frame: ReturnType<typeof framePrompt>;
  conversation: ConversationOptions;
}

/** The guard steps before any model call, shared by chat and chatStream. */
async function prepareChat(
  ctx: AdmittedContext,
  input: z.output<typeof chatInput>,
  path: string,
): Promise<PreparedChat> {
  // Screened before any document is read: a refused prompt learns nothing from the data.
  const turns = screenPrompts(
    ctx,
    input.messages.map((m) => m.content),
  );
  // Titles are as untrusted as bodies: both are screened, and reach the model only spotlighted.
  const docs = (await loadDocuments(ctx, input.documents ?? [])).map((d) => ({
    title: screenDocument(ctx, d.title),
    body: screenDocument(ctx, d.body),
    source: d.source,
    id: d.id,
  }));
  const frame = framePrompt(CHAT_SYSTEM_PROMPT);
  const messages: ModelMessage[] = [{ role: "system", content: frame.system }];
  if (docs.length > 0) {
    messages.push({
      role: "system",
      content: prompt`Documents:\n${spotlightDocuments(docs, frame.boundary)}`,
    });
  }
  messages.push(
    ...input.messages.map((m, i): ModelMessage => ({ role: m.role, content: turns[i] ?? prompt`` })),
  );
  return {
    frame,
    conversation: {
      path,
      principal: ctx.principal,
      messages,
      task: { kind: "chat", documents: docs.map((d) => d.body) },
      tools: offeredTools(createToolRegistry(ctx.config), ctx.principal, input.tools ?? []),
      frame,
      maxOutputTokens: input.maxTokens ?? MAX_OUTPUT_TOKENS,
      ...(input.sampling ? { sampling: input.sampling } : {}),
    },
  };
}

const chatProcedure = () =>
  scopedProcedure({
    scopes: ["endpoint:chat", "prompt-processing"],
    input: chatInput,
    inputScopes: inputScopesOfChat,
    reserveTokens: (ctx, input) =>
      reserveFor(ctx, {
        instructions: CHAT_SYSTEM_PROMPT,
        turns: input.messages.map((m) => m.content),
        refs: input.documents ?? [],
        tools: input.tools ?? [],
        maxOutputTokens: input.maxTokens ?? MAX_OUTPUT_TOKENS,
      }),
  });

/** Top-level procedures (the SDK calls them as `summarizeDoc`, `chat` and `chatStream`). */
export const aiProcedures = {
  summarizeDoc: scopedProcedure({
    scopes: ["endpoint:summarize-doc"],
    input: summarizeDocInput,
    inputScopes: (input) => {
      const scopes: Scope[] = [];
      if (input.document) scopes.push(dataSourceScope(input.document.source));
      if (input.instruction !== undefined) scopes.push("prompt-processing");
      return scopes;
    },
    reserveTokens: (ctx, input) =>
      reserveFor(ctx, {
        instructions: SUMMARIZE_SYSTEM_PROMPT,
        turns: input.instruction === undefined ? [] : [input.instruction],
        inline: input.text === undefined ? [] : [input.text],
        refs: input.document ? [input.document] : [],
        maxOutputTokens: summaryTokens(input.maxWords),
      }),
  }).mutation(
    async ({ ctx, input, signal }) => {
      const [instruction] = input.instruction === undefined ? [] : screenPrompts(ctx, [input.instruction]);
      const [doc] = input.document ? await loadDocuments(ctx, [input.document]) : [];
      const text = screenDocument(ctx, doc?.body ?? input.text ?? "");
      const frame = framePrompt(SUMMARIZE_SYSTEM_PROMPT);
      const spotlighted = spotlightDocuments(
        [
          doc
            ? { title: screenDocument(ctx, doc.title), body: text, source: doc.source, id: doc.id }
            : { body: text, source: "request", id: "text" },
        ],
        frame.boundary,
      );
      const asked = instruction ? prompt` The caller adds: ${instruction}` : prompt``;
      const messages: ModelMessage[] = [
        { role: "system", content: frame.system },
        {
          role: "user",
          content: prompt`Summarize the document below in at most ${input.maxWords} words.${asked}\n${spotlighted}`,
        },
      ];
      const completion = await callModel(
        ctx,
        {
          messages,
          task: {
            kind: "summarize",
            text,
            maxWords: input.maxWords,
            ...(instruction ? { instruction } : {}),
          },
          maxOutputTokens: summaryTokens(input.maxWords),
        },
        signal,
      );
      const summary = screenOutput(
        ctx,
        completion.text,
        outputCheckOptions(frame, ctx.config.outputLinkHosts),
      );
      return {
        summary,
        model: completion.model,
        usage: completion.usage,
        requestId: ctx.request.requestId,
        flags: ctx.call.flags,
      };
    },
    (result) => ({ output: result.summary }),
  ),

  chat: chatProcedure().mutation(
    async ({ ctx, input, signal, path }) => {
      const { frame, conversation } = await prepareChat(ctx, input, path);
      const result = await runConversation(ctx, { ...conversation, ...(signal ? { signal } : {}) });
      const content = screenOutput(ctx, result.text, outputCheckOptions(frame, ctx.config.outputLinkHosts));
      return {
        message: { role: "assistant" as const, content },
        toolCalls: result.toolCalls,
        usage: ctx.call.usage ?? { inputTokens: 0, outputTokens: 0 },
        requestId: ctx.request.requestId,
        flags: ctx.call.flags,
      };
    },
    (result) => ({ output: result.message.content, details: { toolCalls: result.toolCalls } }),
  ),

  /** A mutation returning an async generator: streamed over httpBatchStreamLink (a POST). */
  chatStream: chatProcedure().stream(
    async ({ ctx, input, signal, path }) => {
      const { frame, conversation } = await prepareChat(ctx, input, path);
      return startChatStream(
        ctx,
        frame,
        (onDelta, streamSignal) => runConversation(ctx, { ...conversation, onDelta, signal: streamSignal }),
        signal,
      );
    },
    (done, streamed) => ({ output: streamed, details: { toolCalls: done.toolCalls } }),
  ),
};
