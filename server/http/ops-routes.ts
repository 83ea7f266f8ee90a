// Operations endpoints on the main port: liveness, readiness, and (when no separate metrics
// port is configured) the Prometheus exposition for allow-listed addresses.
import type { IncomingMessage, ServerResponse } from "node:http";
import { BlockList, isIP } from "node:net";
import type { Services } from "../context.ts";
import { checkReadiness } from "../ops/readiness.ts";
import { clientAddress } from "./client-address.ts";
import { REFUSALS } from "./envelope.ts";
import { sendJson, sendRefusal } from "./respond.ts";

/** Answers `/healthz`, `/readyz` and `/metrics`; false for any other path. */
export async function serveOps(
  services: Services,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<boolean> {
  if (pathname === "/healthz") {
    sendJson(res, 200, { status: "ok" });
    return true;
  }
  if (pathname === "/readyz") {
    const readiness = await checkReadiness(services);
    sendJson(
      res,
      readiness.ready ? 200 : 503,
      readiness.ready ? { status: "ready" } : { status: "unready", reason: readiness.reason },
    );
    return true;
  }
  if (pathname === "/metrics" && services.config.ops.metricsPort === null) {
    await serveMetrics(services, req, res);
    return true;
  }
  return false;
}

/**
 * Prometheus exposition, only to allow-listed socket addresses (loopback by default). The
 * socket address, not X-Forwarded-For, decides: a header cannot open the metrics.
 */
export async function serveMetrics(
  services: Services,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const peer = clientAddress(req.socket.remoteAddress, undefined, new BlockList());
  const family = isIP(peer);
  const allowed =
    family !== 0 && services.config.ops.metricsAllow.check(peer, family === 4 ? "ipv4" : "ipv6");
  if (!allowed || req.method !== "GET") {
    sendRefusal(res, REFUSALS.notFound, String(res.getHeader("x-request-id") ?? ""));
    return;
  }
  const body = await services.metrics.exposition();
  res.writeHead(200, {
    "content-type": services.metrics.contentType,
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}
