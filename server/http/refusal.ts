// Refusals made outside the procedure pipeline: one `final` audit record each (the pipeline
// records its own), the error envelope, and the lingering close after a 413.
import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { AuditRecord } from "../audit/record.ts";
import { describeCredentialOf } from "../auth/authenticate.ts";
import type { RequestInfo, Services } from "../context.ts";
import type { Reason } from "../errors.ts";
import { newCallId } from "../ids.ts";
import type { HttpRefusal } from "./envelope.ts";
import { sendRefusal } from "./respond.ts";

/** One `final` record for a request refused outside the procedure pipeline. */
export async function auditRefusal(
  services: Services,
  info: RequestInfo,
  path: string | null,
  reason: Reason,
): Promise<void> {
  const credential = describeCredentialOf(services.config, info.authorization);
  const record: AuditRecord = {
    phase: "final",
    requestId: info.requestId,
    callId: newCallId(),
    keyId: credential?.parsedKeyId ?? null,
    keyFingerprint: credential?.fingerprint ?? null,
    procedure: path,
    outcome: "denied",
    reason,
    clientAddress: info.clientAddress,
  };
  services.metrics.recordCall(record);
  if (!services.flood.recordIndividually(record)) return;
  try {
    // The refusal reached the caller either way; if the database is down it waits in the spool.
    await services.audit.appendOrSpool([record]);
  } catch (error) {
    services.logger.error("audit write failed for a refused request", { requestId: info.requestId, error });
  }
}

/** Records the refusal, then answers it with the error envelope. */
export async function refuse(
  services: Services,
  res: ServerResponse,
  info: RequestInfo,
  path: string | null,
  refusal: HttpRefusal,
): Promise<void> {
  await auditRefusal(services, info, path, refusal.reason);
  if (refusal.status === 413) closeAfterDiscarding(res);
  sendRefusal(res, refusal, info.requestId);
}

// How long a refused oversized body is still read (and discarded) before the socket is cut.
const LINGER_MS = 2_000;

/**
 * After a 413 the client may still be sending its body. Closing at once would reset the
 * connection and can destroy the 413 before the client reads it, so the rest of the body is
 * discarded for a moment (lingering close) and the connection then ends.
 */
export function closeAfterDiscarding(res: ServerResponse): void {
  const { req } = res;
  // Taken now: Node detaches the socket from the request once the response is done.
  const socket: Socket | null = req.socket;
  if (!socket) return;
  // Node would otherwise close (and, with unread data, reset) the socket right after the
  // response when the client asked for `connection: close`; this function closes it instead.
  res.shouldKeepAlive = true;
  // The body is drained, not buffered (tRPC's reader stops listening once it refused it).
  req.resume();
  res.once("finish", () => {
    if (req.complete) {
      socket.end();
      return;
    }
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    req.once("end", () => {
      clearTimeout(timer);
      socket.end();
    });
  });
}
