// Services for a benchmark process: silent logs, test secrets, on the database it is given.
import type { DatabaseHandle } from "../../db/index.ts";
import { createLogger } from "../../server/logger.ts";
import type { ModelProvider } from "../../server/model/provider.ts";
import { openServices } from "../../server/services.ts";
import { testConfig } from "../../tests/helpers/services.ts";

export async function openBenchServices(database: DatabaseHandle, model?: ModelProvider) {
  const config = testConfig({ logLevel: "silent" });
  const services = await openServices(config, {
    logger: createLogger("silent"),
    localAdminToken: null,
    database,
    ...(model ? { model } : {}),
  });
  return { config, services };
}
