// Services on a scratch PostgreSQL database reached through a TcpProxy, so a test can cut or
// stall the database under a running pipeline; everything is closed and dropped afterwards.
import { createDatabase, type DatabaseHandle, migrateDatabase } from "../../db/index.ts";
import type { Config } from "../../server/config.ts";
import { createLogger } from "../../server/logger.ts";
import { openServices, type RunningServices } from "../../server/services.ts";
import { createScratchDatabase, dropDatabase, testDatabaseUrl } from "./database.ts";
import { TcpProxy } from "./tcp-proxy.ts";

export interface ProxiedServices {
  proxy: TcpProxy;
  database: DatabaseHandle;
  running: RunningServices;
}

export async function withProxiedServices<T>(
  config: Config,
  body: (env: ProxiedServices) => Promise<T>,
): Promise<T> {
  const base = testDatabaseUrl();
  if (!base) throw new Error("needs a PostgreSQL server");
  const scratch = await createScratchDatabase(base);
  const proxy = await TcpProxy.start(scratch);
  const database = await createDatabase({ kind: "postgres", url: proxy.through(scratch), maxConnections: 2 });
  try {
    await migrateDatabase(database);
    const running = await openServices(config, {
      logger: createLogger("silent"),
      localAdminToken: null,
      database,
    });
    try {
      return await body({ proxy, database, running });
    } finally {
      // Reconnected first, so closing the services can flush what they hold.
      await proxy.restore();
      await running.close();
    }
  } finally {
    await proxy.close();
    await database.close();
    await dropDatabase(base, scratch);
  }
}
