// A local OpenAI-compatible server for the model tests (real HTTP on port 0, spoken to by the
// real `openai` client), scripted per request, and a payment API double that records its calls.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ChatRequestBody {
  model: string;
  stream?: boolean;
  max_tokens?: number;
  messages: Array<{ role: string; content: string | null; tool_call_id?: string; tool_calls?: unknown[] }>;
  tools?: Array<{ type: string; function: { name: string } }>;
}

export type Reply = (body: ChatRequestBody, res: ServerResponse) => void | Promise<void>;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

export interface UpstreamUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

const USAGE: UpstreamUsage = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 };

/** What an upstream reports as used (it may report more than it was allowed). */
export const usage = (prompt: number, completion: number): UpstreamUsage => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
});

export class FakeOpenAI {
  readonly requests: ChatRequestBody[] = [];
  /** Responses whose connection closed before they were finished (the client aborted). */
  abortedResponses = 0;
  private readonly replies: Reply[] = [];
  private abortWaiters: Array<() => void> = [];
  private server: Server | null = null;
  url = "";

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req, res);
    });
    this.url = `${await listen(this.server)}/v1`;
    return this;
  }

  stop(): Promise<void> {
    return this.server ? close(this.server) : Promise.resolve();
  }

  /** Scripts the next responses in order; once used up, requests get a plain "ok". */
  script(...replies: Reply[]): void {
    this.replies.push(...replies);
  }

  reset(): void {
    this.requests.length = 0;
    this.replies.length = 0;
    this.abortedResponses = 0;
  }

  /** Resolves when a response is cut off by its client. */
  nextAbort(): Promise<void> {
    return new Promise((resolve) => this.abortWaiters.push(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = JSON.parse(await readBody(req)) as ChatRequestBody;
    this.requests.push(body);
    res.on("close", () => {
      if (res.writableFinished) return;
      this.abortedResponses += 1;
      for (const wake of this.abortWaiters.splice(0)) wake();
    });
    const reply = this.replies.shift() ?? text("ok");
    await reply(body, res);
  }
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(value));
}

function completion(message: Record<string, unknown>, usage: unknown = USAGE) {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "fake-model",
    choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason: "stop" }],
    ...(usage ? { usage } : {}),
  };
}

/** An SSE answer of these chunks, then `[DONE]`. */
function sse(res: ServerResponse, chunks: unknown[]): void {
  res.writeHead(200, { "content-type": "text/event-stream" });
  for (const value of chunks) res.write(`data: ${JSON.stringify(value)}\n\n`);
  res.end("data: [DONE]\n\n");
}

const usageChunk = (reported: UpstreamUsage) => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1,
  model: "fake-model",
  choices: [],
  usage: reported,
});

/** A text answer, streamed when the request asks for a stream. */
export const text =
  (content: string, reported: UpstreamUsage = USAGE): Reply =>
  (body, res) =>
    body.stream
      ? sse(res, [chunk({ role: "assistant", content }), usageChunk(reported)])
      : json(res, 200, completion({ content }, reported));

/** A tool call (after `content`, if any), streamed when the request asks for a stream. */
export const toolCall =
  (name: string, args: unknown, id = "call_1", reported: UpstreamUsage = USAGE, content = ""): Reply =>
  (body, res) => {
    const call = { id, type: "function", function: { name, arguments: JSON.stringify(args) } };
    if (body.stream) {
      sse(res, [
        chunk({ role: "assistant", content }),
        chunk({ tool_calls: [{ index: 0, ...call }] }),
        usageChunk(reported),
      ]);
    } else {
      json(res, 200, completion({ content: content || null, tool_calls: [call] }, reported));
    }
  };

export const status =
  (code: number, headers: Record<string, string> = {}): Reply =>
  (_body, res) =>
    json(res, code, { error: { message: `status ${code}`, type: "server_error" } }, headers);

/** Never answers; the connection stays open until the client gives up. */
export const hang = (): Reply => () => new Promise(() => undefined);

function chunk(delta: Record<string, unknown>) {
  return {
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1,
    model: "fake-model",
    choices: [{ index: 0, delta, finish_reason: null }],
  };
}

export interface StreamOptions {
  /** Send a final usage chunk (as with `stream_options.include_usage`): the default one, or this. */
  usage?: boolean | UpstreamUsage;
  /** Raw SSE lines sent after the text, before `[DONE]`. */
  rawAfter?: string[];
  /** Stop after the text and keep the connection open. */
  hangAfter?: boolean;
}

/** An SSE stream of the given text pieces; the content may depend on the request. */
export const stream =
  (pieces: string[] | ((body: ChatRequestBody) => string[]), options: StreamOptions = {}): Reply =>
  async (body, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const send = (value: unknown) => res.write(`data: ${JSON.stringify(value)}\n\n`);
    send(chunk({ role: "assistant", content: "" }));
    for (const piece of typeof pieces === "function" ? pieces(body) : pieces) {
      send(chunk({ content: piece }));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    for (const line of options.rawAfter ?? []) res.write(`${line}\n\n`);
    if (options.hangAfter) return new Promise(() => undefined);
    if (options.usage) send(usageChunk(options.usage === true ? USAGE : options.usage));
    res.end("data: [DONE]\n\n");
  };

/** The canary the system prompt carries, read from a request. */
export function canaryOf(body: ChatRequestBody): string {
  const system = body.messages.find((m) => m.role === "system")?.content ?? "";
  const found = /cnry-[A-Za-z0-9_-]+/.exec(system);
  if (!found) throw new Error("no canary in the system prompt");
  return found[0];
}

export interface PaymentCall {
  url: string;
  headers: IncomingMessage["headers"];
}

/** The payment API double: `/…/payments/<id>` answers a status; every call is recorded. */
export class FakePaymentApi {
  readonly calls: PaymentCall[] = [];
  private server: Server | null = null;
  url = "";
  /** Answer with a redirect instead (to prove redirects are never followed). */
  redirectTo: string | null = null;
  /** The raw JSON body to answer for a payment id, instead of the default status. */
  answer: ((id: string) => string) | null = null;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.calls.push({ url: req.url ?? "", headers: req.headers });
      if (this.redirectTo) {
        res.writeHead(302, { location: this.redirectTo }).end();
        return;
      }
      const id = decodeURIComponent((req.url ?? "").split("/").pop() ?? "");
      if (this.answer) {
        res.writeHead(200, { "content-type": "application/json" }).end(this.answer(id));
        return;
      }
      json(res, 200, { id, status: "succeeded", amount: 4200, currency: "EUR" });
    });
    this.url = `${await listen(this.server)}/api/v1`;
    return this;
  }

  stop(): Promise<void> {
    return this.server ? close(this.server) : Promise.resolve();
  }
}
