// One benchmark target in its own process, so the load generator never shares its event loop:
// `--mode bare` (bench/overhead/bare-server.ts) or `--mode pipeline` (the real createHttpServer
// and openServices). Prints one JSON line {url, keys} when listening; stops on SIGTERM.
// Usage: tsx bench/overhead/target.ts --mode pipeline --delay 50 [--keys 1000]
//        (BENCH_DATABASE_URL = Postgres; --keys: how many live keys, each with its own limits row)
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { createDatabase, migrateDatabase } from "../../db/index.ts";
import { createHttpServer } from "../../server/http/server.ts";
import { createTestKey } from "../../tests/helpers/services.ts";
import { createBareServer } from "./bare-server.ts";
import { FixedLatencyModel } from "./model.ts";
import { openBenchServices } from "./services.ts";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "pipeline" },
    delay: { type: "string", default: "50" },
    keys: { type: "string", default: "1" },
  },
});
const model = new FixedLatencyModel(Number(values.delay));

async function pipelineServer(): Promise<{ server: Server; keys: string[]; close: () => Promise<void> }> {
  const url = process.env.BENCH_DATABASE_URL;
  const database = await createDatabase(url ? { kind: "postgres", url } : { kind: "pglite", dataDir: null });
  await migrateDatabase(database);
  const { services } = await openBenchServices(database, model);
  // Limits high enough never to refuse: the benchmark measures their cost, not their effect.
  const keys: string[] = [];
  for (let i = 0; i < Number(values.keys); i++) {
    const created = await createTestKey(services, {
      name: `bench ${i}`,
      // Chat scopes too, for the OpenAI-door comparison (bench/overhead/openai-door.ts).
      scopes: ["endpoint:summarize-doc", "endpoint:chat", "prompt-processing"],
      rpm: 1_000_000,
      dailyTokens: 1_000_000_000_000,
    });
    keys.push(created.plaintext);
  }
  return {
    // With --expose-gc, /bench/heap collects garbage and reports memory (for the soak).
    server: createHttpServer(services, { extraRoutes: heapRoute }),
    keys,
    close: async () => {
      await services.close();
      await database.close();
    },
  };
}

function heapRoute(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url !== "/bench/heap" || typeof globalThis.gc !== "function") return false;
  globalThis.gc();
  const memory = process.memoryUsage();
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(memory));
  return true;
}

const target =
  values.mode === "bare"
    ? { server: createBareServer(model), keys: [""], close: async () => {} }
    : await pipelineServer();
await new Promise<void>((resolve) => target.server.listen(0, "127.0.0.1", () => resolve()));
const { port } = target.server.address() as AddressInfo;
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}`, keys: target.keys })}\n`);
process.once("SIGTERM", () => {
  target.server.closeAllConnections();
  target.server.close();
  void target.close().finally(() => process.exit(0));
});
