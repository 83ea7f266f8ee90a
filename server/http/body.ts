// Request bodies: tRPC's node-http adapter reads them and enforces the size bound; this module
// watches the same bytes for what tRPC does not check (the body is valid UTF-8, and it arrived
// whole rather than cut off by a reset or a timeout). The OpenAI door reads its body the same way.
import type { IncomingMessage, ServerResponse } from "node:http";
import { TRPCError } from "@trpc/server";
import { incomingMessageToRequest } from "@trpc/server/adapters/node-http";
import type { Reason } from "../errors.ts";

export const MAX_BODY_BYTES = 1024 * 1024;

/** A request being delivered: its id, and why it was cut off mid-way (set by `clientError`). */
export interface Arrival {
  requestId: string;
  cutOff: Reason | null;
}

export interface BodyWatch {
  /** False once a byte sequence that is not UTF-8 was seen (tRPC would decode it to U+FFFD). */
  readonly utf8: boolean;
  /** Settles with the reason to record when the body never arrives whole; never for a whole body. */
  readonly cutOff: Promise<Reason>;
}

/**
 * Watches `req`'s body as it streams. Must be called in the same tick as the reader is attached
 * (both see every chunk: the stream starts flowing only on the next tick).
 */
export function watchBody(req: IncomingMessage, arrival: Arrival): BodyWatch {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let utf8 = true;
  let size = 0;
  const check = (bytes?: Buffer) => {
    try {
      decoder.decode(bytes, { stream: bytes !== undefined });
    } catch {
      utf8 = false;
    }
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    // Past the bound tRPC refuses the body anyway; the rest is not worth decoding.
    if (size > MAX_BODY_BYTES || !utf8) req.off("data", onData);
    else check(chunk);
  };
  req.on("data", onData);
  req.once("end", () => {
    if (utf8 && size <= MAX_BODY_BYTES) check();
  });
  const cutOff = new Promise<Reason>((resolve) => {
    // A reset or a timeout mid-body: `clientError` may already have answered and left its reason.
    req.once("close", () => {
      if (!req.complete) resolve(arrival.cutOff ?? "client_closed");
    });
  });
  return {
    get utf8() {
      return utf8;
    },
    cutOff,
  };
}

/**
 * The OpenAI door's body, read through tRPC's reader with the same bound: the text, or why not.
 * (`cutOff` carries the reason to record when it never arrived whole.)
 */
export async function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  arrival: Arrival,
): Promise<string | "too_large" | "invalid_utf8" | { cutOff: Reason }> {
  const watch = watchBody(req, arrival);
  const request = incomingMessageToRequest(req, res, { maxBodySize: MAX_BODY_BYTES });
  const read = await Promise.race([
    request.text().then(
      (text) => ({ text }),
      (error: unknown) => ({ error }),
    ),
    watch.cutOff.then((reason) => ({ cutOff: reason })),
  ]);
  if ("cutOff" in read) return read;
  if ("error" in read) {
    if (read.error instanceof TRPCError && read.error.code === "PAYLOAD_TOO_LARGE") return "too_large";
    return { cutOff: arrival.cutOff ?? "client_closed" };
  }
  return watch.utf8 ? read.text : "invalid_utf8";
}
