// A server started as the application role before the owner has migrated: it listens, answers
// /healthz 200 and /readyz 503 `migrations_pending` (so a load balancer keeps traffic away),
// refuses every other request with 503 `unavailable`, and returns once nothing is pending.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type DatabaseHandle, pendingMigrations } from "../../db/index.ts";
import { errorEnvelope } from "../http/envelope.ts";
import { newRequestId } from "../ids.ts";
import type { Logger } from "../logger.ts";
import { listen } from "./listen.ts";

const POLL_MS = 2_000;
// Say so again now and then: an operator tailing the log should not mistake waiting for a hang.
const REMIND_MS = 60_000;

const STARTING = {
  status: 503,
  code: "SERVICE_UNAVAILABLE",
  reason: "unavailable",
  message: "The service is starting: database migrations are pending.",
} as const;

export interface MigrationWait {
  /** The port the holding server listened on (the real server takes it over). */
  port: number;
}

export async function waitForMigrations(
  database: DatabaseHandle,
  options: { port: number; host: string | null; pending: number; logger: Logger },
): Promise<MigrationWait> {
  const holding = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    const json = (status: number, body: string) =>
      res
        .writeHead(status, {
          "content-type": "application/json",
          "cache-control": "no-store",
          "x-content-type-options": "nosniff",
        })
        .end(body);
    if (path === "/healthz") json(200, JSON.stringify({ status: "ok" }));
    else if (path === "/readyz")
      json(503, JSON.stringify({ status: "unready", reason: "migrations_pending" }));
    else json(503, errorEnvelope(STARTING, newRequestId()));
  });
  await listen(holding, options.port, options.host);
  const port = (holding.address() as AddressInfo).port;
  const say = (pending: number) =>
    options.logger.warn("waiting for database migrations: run `scopegate migrate` as the owner role", {
      pending,
      port,
    });
  say(options.pending);
  let lastSaid = Date.now();
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const pending = await pendingMigrations(database).catch((error: unknown) => {
        // Unreachable for now: keep waiting (readiness stays 503), and say so no more than once a minute.
        if (Date.now() - lastSaid >= REMIND_MS) {
          options.logger.warn("migration check failed; retrying", { error });
          lastSaid = Date.now();
        }
        return null;
      });
      if (pending === 0) break;
      if (pending !== null && Date.now() - lastSaid >= REMIND_MS) {
        say(pending);
        lastSaid = Date.now();
      }
    }
  } finally {
    holding.closeAllConnections();
    await new Promise<void>((resolve) => holding.close(() => resolve()));
  }
  options.logger.info("database migrations applied; starting", { port });
  return { port };
}
