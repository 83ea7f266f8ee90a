// Scale-out: the same load against one and against two `scopegate serve` processes sharing one
// Postgres database. The servers reach the model over HTTP (the real openai provider against a
// local stub with a fixed delay), since a serve process has no way to take an in-process model.
import { loadConfig } from "../../server/config.ts";
import { createLogger } from "../../server/logger.ts";
import { openServices } from "../../server/services.ts";
import { type ServeProcess, sharedSecrets, startServeProcess } from "../../tests/helpers/serve-process.ts";
import { createTestKey } from "../../tests/helpers/services.ts";
import { type LoadResult, rssOf, runLoad } from "./load.ts";
import { startOpenAIStub } from "./openai-stub.ts";

export interface ScalingRow {
  modelDelayMs: number;
  connections: number;
  processes: number;
  load: LoadResult;
  rssMb: number[];
}

async function benchKey(env: Record<string, string>): Promise<string> {
  const services = await openServices(loadConfig(env), {
    logger: createLogger("silent"),
    localAdminToken: null,
  });
  try {
    const created = await createTestKey(services, {
      name: "bench-scaling",
      scopes: ["endpoint:summarize-doc"],
      rpm: 1_000_000,
      dailyTokens: 1_000_000_000_000,
    });
    return created.plaintext;
  } finally {
    await services.close();
  }
}

export async function runScaling(
  databaseUrl: string,
  options: { seconds: number; delays: number[]; connections: number[] },
): Promise<ScalingRow[]> {
  const rows: ScalingRow[] = [];
  for (const delay of options.delays) {
    const stub = await startOpenAIStub(delay);
    const env = {
      ...sharedSecrets(),
      DATABASE_URL: databaseUrl,
      SCOPEGATE_MODEL_PROVIDER: "openai",
      OPENAI_BASE_URL: stub.url,
      OPENAI_API_KEY: "bench-not-a-secret",
      LOG_LEVEL: "error",
    };
    const key = await benchKey(env);
    const servers: ServeProcess[] = [];
    try {
      servers.push(await startServeProcess(env), await startServeProcess(env));
      for (const connections of options.connections) {
        for (const count of [1, 2]) {
          const urls = servers.slice(0, count).map((s) => s.url);
          await runLoad({ urls, key, connections, seconds: 2 });
          const load = await runLoad({ urls, key, connections, seconds: options.seconds });
          const rssMb = servers.slice(0, count).map((s) => rssOf(s.child.pid ?? 0).rssMb);
          rows.push({ modelDelayMs: delay, connections, processes: count, load, rssMb });
        }
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await stub.close();
    }
  }
  return rows;
}
