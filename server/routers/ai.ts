// The model-backed procedures: summarizeDoc and chat.
import { z } from "zod";
import { callModel } from "../ai/model-call.ts";
import { sanitizeAll } from "../ai/prompt-guard.ts";
import { CHAT_SYSTEM_PROMPT, SUMMARIZE_SYSTEM_PROMPT } from "../ai/prompts.ts";
import { dataSourceScope, RESOURCE_NAME_PATTERN, type Scope } from "../auth/scopes.ts";
import type { Context } from "../context.ts";
import { withDatabase } from "../db-errors.ts";
import { type DocumentRef, documentRef } from "../documents/schemas.ts";
import { findDocument } from "../documents/store.ts";
import { fail } from "../errors.ts";
import type { ModelMessage } from "../model/provider.ts";
import { scopedProcedure } from "../trpc.ts";

export const MAX_TEXT_CHARS = 200_000;
const MAX_MESSAGE_CHARS = 32_000;
const MAX_OUTPUT_TOKENS = 1024;

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
  documents: z.array(documentRef).max(10).optional(),
  tools: z.array(z.string().regex(RESOURCE_NAME_PATTERN)).max(16).optional(),
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

function wrapDocument(title: string, body: string): string {
  return `<document title=${JSON.stringify(title)}>\n${body}\n</document>`;
}

/** Top-level procedures (the SDK calls them as `summarizeDoc` and `chat`). */
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
  }).mutation(async ({ ctx, input, signal }) => {
    const [doc] = input.document ? await loadDocuments(ctx, [input.document]) : [];
    const [text = "", instruction] = sanitizeAll(ctx.call, [
      doc?.body ?? input.text ?? "",
      ...(input.instruction === undefined ? [] : [input.instruction]),
    ]);
    const messages: ModelMessage[] = [
      { role: "system", content: SUMMARIZE_SYSTEM_PROMPT },
      {
        role: "user",
        content: `Summarize in at most ${input.maxWords} words.${instruction ? ` ${instruction}` : ""}\n${wrapDocument(doc?.title ?? "text", text)}`,
      },
    ];
    const completion = await callModel(
      ctx,
      {
        messages,
        task: { kind: "summarize", text, maxWords: input.maxWords, ...(instruction ? { instruction } : {}) },
        maxOutputTokens: Math.min(MAX_OUTPUT_TOKENS, input.maxWords * 2),
      },
      signal,
    );
    ctx.call.auditOutput = completion.text;
    return {
      summary: completion.text,
      model: completion.model,
      usage: completion.usage,
      requestId: ctx.request.requestId,
      flags: ctx.call.flags,
    };
  }),

  chat: scopedProcedure({
    scopes: ["endpoint:chat", "prompt-processing"],
    input: chatInput,
    inputScopes: (input) => [
      ...(input.documents ?? []).map((d) => dataSourceScope(d.source)),
      ...(input.tools ?? []).map((name): Scope => `tool:${name}`),
    ],
  }).mutation(async ({ ctx, input, signal }) => {
    const docs = await loadDocuments(ctx, input.documents ?? []);
    const turns = sanitizeAll(
      ctx.call,
      input.messages.map((m) => m.content),
    );
    const bodies = sanitizeAll(
      ctx.call,
      docs.map((d) => d.body),
    );
    const context = docs.map((d, i) => wrapDocument(d.title, bodies[i] ?? "")).join("\n");
    const messages: ModelMessage[] = [
      { role: "system", content: context ? `${CHAT_SYSTEM_PROMPT}\n${context}` : CHAT_SYSTEM_PROMPT },
      ...input.messages.map((m, i): ModelMessage => ({ role: m.role, content: turns[i] ?? "" })),
    ];
    const completion = await callModel(
      ctx,
      { messages, task: { kind: "chat" }, maxOutputTokens: MAX_OUTPUT_TOKENS },
      signal,
    );
    ctx.call.auditOutput = completion.text;
    return {
      message: { role: "assistant" as const, content: completion.text },
      toolCalls: [] as Array<{ name: string; status: string }>,
      usage: completion.usage,
      requestId: ctx.request.requestId,
      flags: ctx.call.flags,
    };
  }),
};
