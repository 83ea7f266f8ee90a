// Chooses the model provider from configuration.
import type { Config } from "../config.ts";
import { ConfigError } from "../config.ts";
import { OfflineProvider } from "./offline.ts";
import type { ModelProvider } from "./provider.ts";

export function createModelProvider(config: Config): ModelProvider {
  if (config.model.provider === "offline") return new OfflineProvider();
  throw new ConfigError(
    "SCOPEGATE_MODEL_PROVIDER",
    "the openai provider is not available in this build; use offline",
  );
}
