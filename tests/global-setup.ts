// With DATABASE_URL: one fresh database per worker slot on that server, dropped after the run,
// so runs never see each other's rows and the shared `test` database stays clean.
// The demo page's assets are rebuilt first, so no test serves a page older than its sources.
import type { TestProject } from "vitest/node";
import { buildDemoAssets } from "../client/demo/build.ts";
import { createScratchDatabase, dropDatabase } from "./helpers/database.ts";

declare module "vitest" {
  export interface ProvidedContext {
    workerDatabaseUrls: string[];
  }
}

export default async function setup(project: TestProject) {
  await buildDemoAssets();
  const baseUrl = process.env.DATABASE_URL;
  if (!baseUrl) {
    project.provide("workerDatabaseUrls", []);
    return;
  }
  const slots = Number(project.config.maxWorkers) || 2;
  const urls = await Promise.all(Array.from({ length: slots }, () => createScratchDatabase(baseUrl)));
  project.provide("workerDatabaseUrls", urls);
  return async () => {
    await Promise.all(urls.map((url) => dropDatabase(baseUrl, url)));
  };
}
