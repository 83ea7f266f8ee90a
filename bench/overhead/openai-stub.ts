// A minimal OpenAI-compatible chat-completions server answering every request after a fixed
// delay, for benchmarks of real `scopegate serve` processes (which reach models only over HTTP).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

const REPLY = JSON.stringify({
  id: "chatcmpl-bench",
  object: "chat.completion",
  created: 1,
  model: "bench-model",
  choices: [
    { index: 0, message: { role: "assistant", content: "Revenue grew; costs fell." }, finish_reason: "stop" },
  ],
  usage: { prompt_tokens: 520, completion_tokens: 8, total_tokens: 528 },
});

export interface OpenAIStub {
  /** The base URL to give as OPENAI_BASE_URL. */
  url: string;
  close(): Promise<void>;
}

export async function startOpenAIStub(delayMs: number): Promise<OpenAIStub> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" }).end(REPLY);
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
