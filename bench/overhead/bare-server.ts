// The baseline for the overhead benchmark: a bare tRPC router (no key, scopes, limits, guard or
// audit) doing the same model work as summarizeDoc, behind the same fetch adapter on node:http.
// It needs its own initTRPC on purpose: the point is to leave out everything server/trpc.ts adds.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { initTRPC } from "@trpc/server";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { type PromptText, prompt, type UntrustedText } from "../../server/guard/untrusted.ts";
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

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

export function createBareServer(model: ModelProvider): Server {
  return createServer((req, res) => {
    void (async () => {
      const body = req.method === "POST" ? await readBody(req) : undefined;
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === "string" && name !== "content-length") headers.set(name, value);
      }
      const response = await fetchRequestHandler({
        endpoint: "/trpc",
        req: new Request(new URL(req.url ?? "/", "http://localhost"), { method: req.method, headers, body }),
        router: bareRouter,
        createContext: () => ({ model }),
      });
      const payload = Buffer.from(await response.arrayBuffer());
      response.headers.forEach((value, name) => {
        res.setHeader(name, value);
      });
      res.writeHead(response.status, { "content-length": payload.length }).end(payload);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
}
