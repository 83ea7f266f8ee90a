// What tRPC's adapter writes passes through here: it leaves only once every call's record is
// committed, and a single streamed call is held until it settled (refused, or its first result
// is out), so that a refusal before the first event can still be answered with its own HTTP
// status. tRPC's framing is never read: a refusal is known from `onError`, and the stream's
// second chunk is the call's first result (tRPC writes its head line first).
import type { ServerResponse } from "node:http";

/** An answer given instead of what tRPC writes. */
export interface Replacement {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export class ResponseGate {
  /** The response to hand to tRPC's adapter. */
  readonly res: ServerResponse;
  private readonly held: Uint8Array[] = [];
  private ended = false;
  private started = false;
  private settled: boolean;
  private state: "holding" | "releasing" | "open" | "closed" = "holding";
  // undefined: tRPC's own answer; null: no answer at all (the request was cut off).
  private replacement: Replacement | null | undefined;

  constructor(
    private readonly target: ServerResponse,
    private readonly options: {
      /** Hold a stream until the call settled (its second chunk, or a refusal). */
      holdStreamHead: boolean;
      /** Awaited before anything leaves (the audit records of the calls). */
      before: () => Promise<unknown>;
    },
  ) {
    this.settled = !options.holdStreamHead;
    const write = (chunk: string | Uint8Array) => this.write(chunk);
    const end = (chunk?: unknown) => this.end(chunk);
    this.res = new Proxy(target, {
      get(res, property) {
        if (property === "write") return write;
        if (property === "end") return end;
        const value: unknown = Reflect.get(res, property, res);
        return typeof value === "function" ? value.bind(res) : value;
      },
      set: (res, property, value) => Reflect.set(res, property, value, res),
    });
  }

  /** Answers `replacement` instead of what tRPC writes (unless an answer was already chosen). */
  replace(replacement: Replacement): void {
    if (this.replacement !== undefined) return;
    this.replacement = replacement;
    this.settle();
  }

  /** Writes nothing: the client is gone, or was already answered on its socket. */
  drop(): void {
    this.replacement = null;
    this.settle();
  }

  private write(chunk: string | Uint8Array): boolean {
    if (this.state === "open") return this.target.write(chunk);
    if (this.state === "closed") return true;
    this.held.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    this.started = true;
    if (this.held.length >= 2) this.settled = true;
    this.release();
    return true;
  }

  private end(chunk?: unknown): ServerResponse {
    if (this.state === "open") return this.target.end(chunk);
    if (this.state !== "closed") {
      if (typeof chunk === "string" || chunk instanceof Uint8Array) this.held.push(Buffer.from(chunk));
      this.ended = true;
      this.started = true;
      this.settled = true;
      this.release();
    }
    return this.target;
  }

  private settle(): void {
    this.settled = true;
    this.release();
  }

  /** Once tRPC began writing (its status and headers are set) and the call settled. */
  private release(): void {
    if (this.state !== "holding" || !this.started || !this.settled) return;
    this.state = "releasing";
    void this.options.before().then(() => this.flush());
  }

  private flush(): void {
    const { target, replacement } = this;
    if (replacement === null || target.destroyed) {
      this.state = "closed";
      return;
    }
    if (replacement) {
      this.state = "closed";
      target.statusCode = replacement.status;
      target.removeHeader("transfer-encoding");
      for (const [name, value] of Object.entries(replacement.headers)) target.setHeader(name, value);
      target.setHeader("content-type", "application/json");
      target.setHeader("content-length", Buffer.byteLength(replacement.body));
      target.end(replacement.body);
      return;
    }
    this.state = "open";
    // A whole body (every JSON answer) goes out with its length, not chunked.
    if (this.ended && !target.hasHeader("transfer-encoding")) {
      target.setHeader(
        "content-length",
        this.held.reduce((sum, chunk) => sum + chunk.byteLength, 0),
      );
    }
    for (const chunk of this.held.splice(0)) target.write(chunk);
    if (this.ended) target.end();
  }
}
