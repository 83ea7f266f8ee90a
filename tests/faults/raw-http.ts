// Raw HTTP/1.1 over node:net for the fault drills: requests fetch cannot express (invalid
// UTF-8 bytes, NUL bytes, oversized request lines, bodies larger than the server will read),
// with a hard deadline so a hanging server fails the test instead of stalling it.
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: unknown;
  /** Milliseconds from the first byte sent to the complete response. */
  elapsedMs: number;
}

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** Sent after the head; a function yields chunks (for bodies too large to hold). */
  body?: Buffer | string | (() => Iterable<Buffer>);
  timeoutMs?: number;
}

/** Sends one request on a fresh connection (`connection: close`) and reads one response. */
export function rawRequest(port: number, request: RawRequest): Promise<RawResponse> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error: Error | null, closed = false) => {
      if (settled) return;
      const response = parseResponse(Buffer.concat(chunks), started, closed);
      if (response) {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(response);
      } else if (error) {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`no complete response within ${request.timeoutMs ?? 10_000} ms`)),
      request.timeoutMs ?? 10_000,
    );
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      finish(null);
    });
    // A server that refuses a body early may reset the connection while we still write it
    // (EPIPE, ECONNRESET); what counts is the response it sent first, settled at the close.
    socket.on("error", () => {});
    socket.on("close", () => finish(new Error("connection closed without a complete response"), true));
    socket.on("connect", () => {
      const head = [
        `${request.method} ${request.path} HTTP/1.1`,
        "host: 127.0.0.1",
        "connection: close",
        ...Object.entries(request.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
        "",
        "",
      ].join("\r\n");
      socket.write(head);
      writeBody(socket, request.body);
    });
  });
}

function writeBody(socket: import("node:net").Socket, body: RawRequest["body"]) {
  if (body === undefined) return;
  if (typeof body !== "function") {
    socket.write(body);
    return;
  }
  const chunks = body()[Symbol.iterator]();
  // Respect backpressure, and stop once the server has answered or gone.
  const pump = () => {
    for (;;) {
      if (socket.destroyed || !socket.writable) return;
      const next = chunks.next();
      if (next.done) return;
      if (!socket.write(next.value)) {
        socket.once("drain", pump);
        return;
      }
    }
  };
  pump();
}

function parseResponse(raw: Buffer, started: number, closed: boolean): RawResponse | null {
  const end = raw.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const [statusLine = "", ...lines] = raw.subarray(0, end).toString("latin1").split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers["content-length"] ?? Number.NaN);
  const bodyBytes = raw.subarray(end + 4);
  let body: string;
  if (!Number.isNaN(length)) {
    if (bodyBytes.length < length) return null;
    body = bodyBytes.subarray(0, length).toString("utf8");
  } else {
    // Chunked or unknown length: complete when the server closes (we sent `connection: close`).
    if (!closed) return null;
    body = headers["transfer-encoding"] === "chunked" ? dechunk(bodyBytes) : bodyBytes.toString("utf8");
  }
  let json: unknown = null;
  try {
    json = JSON.parse(body);
  } catch {}
  return {
    status: Number(statusLine.split(" ")[1]),
    headers,
    body,
    json,
    elapsedMs: performance.now() - started,
  };
}

function dechunk(bytes: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf("\r\n", at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(bytes.subarray(at, lineEnd).toString("latin1"), 16);
    if (!(size > 0)) break;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts).toString("utf8");
}
