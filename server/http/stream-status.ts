// tRPC streams a batch as JSON lines and sends its headers before any call resolves, so a
// chatStream refused before its first event would answer 200. For a single-call stream the HTTP
// layer holds the stream back until the call resolves: a refusal is then answered like any
// other call — its HTTP status and a plain `{ error }` body, which tRPC's stream link reads as
// a thrown error — and anything else streams on unchanged.

export interface StreamHead {
  /** The call's error shape when it was refused before streaming, else null. */
  refusal: { data?: { httpStatus?: unknown; retryAfterMs?: unknown } } | null;
  /** What was read to decide; sent first, unchanged, when the call streams. */
  chunks: Uint8Array[];
  reader: ReadableStreamDefaultReader<Uint8Array>;
}

// Bounds what is held back: the head line and the call's first resolution are small.
const MAX_HELD_BYTES = 256 * 1024;

/** Reads the head line and the first resolution of a single-call stream. */
export async function readStreamHead(body: ReadableStream<Uint8Array>): Promise<StreamHead> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const chunks: Uint8Array[] = [];
  let text = "";
  let held = 0;
  let lineNumber = 0;
  const streaming = (): StreamHead => ({ refusal: null, chunks, reader });
  while (held < MAX_HELD_BYTES) {
    const { done, value } = await reader.read();
    if (done || !value) return streaming();
    chunks.push(value);
    held += value.length;
    text += decoder.decode(value, { stream: true });
    const lines = text.split("\n");
    text = lines.pop() ?? "";
    for (const line of lines) {
      lineNumber += 1;
      const parsed = safeParse(line);
      // Line 1 maps the call to a placeholder; only single-call batches are held.
      if (lineNumber === 1) {
        if (!parsed || typeof parsed !== "object" || Object.keys(parsed).length !== 1) return streaming();
        continue;
      }
      // Line 2 resolves the call: [0, 0, [[{ result } | { error }], …]].
      const value0 =
        Array.isArray(parsed) && Array.isArray(parsed[2]) && Array.isArray(parsed[2][0])
          ? parsed[2][0][0]
          : null;
      const error =
        value0 && typeof value0 === "object" && "error" in value0
          ? (value0 as { error: unknown }).error
          : null;
      if (error && typeof error === "object")
        return { refusal: error as StreamHead["refusal"], chunks, reader };
      return streaming();
    }
  }
  return streaming();
}

function safeParse(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
