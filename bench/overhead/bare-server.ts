// The baseline for the overhead benchmark: a bare tRPC router (no key, scopes, limits, guard or
// audit) doing the same model work as summarizeDoc, behind the same adapter as the real server
// (tRPC's node-http adapter, here through its standalone wrapper) with the same body bound.
// It needs its own initTRPC on purpose: the point is to leave out everything server/trpc.ts adds.
import type { Server } from "node:http";
import { initTRPC } from "@trpc/server";
import { createHTTPServer } from "@trpc/server/adapters/standalone";
import { type PromptText, prompt, type UntrustedText } from "../../server/guard/untrusted.ts";
import { MAX_BODY_BYTES } from "../../server/http/body.ts";
import type { ModelProvider } from "../../server/model/provider.ts";
import { summarizeDocInput } from "../../server/routers/ai.ts";
import { testGrant } from "../../tests/helpers/grant.ts";

const t = initTRPC.context<{ model: ModelProvider }>().create();

const bareRouter = t.router({
  summarizeDoc: t.procedure.input(summarizeDocInput).mutation(async ({ ctx, input, signal }) => {
    // The baseline leaves the guard out on purpose, so it asserts the types the guard makes.
    const text = (input.text ?? "") as UntrustedText;
    const completion = await ctx.model.complete({
      messages: [
        { role: "system", content: prompt`You summarize documents.` },
        { role: "user", content: `Summarize in at most ${input.maxWords} words.\n${text}` as PromptText },
      ],
      task: { kind: "summarize", text, maxWords: input.maxWords },
      grant: await testGrant(Math.min(1024, input.maxWords * 2)),
      ...(signal ? { signal } : {}),
    });
    return { summary: completion.text, model: completion.model, usage: completion.usage };
  }),
});

export function createBareServer(model: ModelProvider): Server {
  return createHTTPServer({
    basePath: "/trpc/",
    router: bareRouter,
    maxBodySize: MAX_BODY_BYTES,
    createContext: () => ({ model }),
  });
}
