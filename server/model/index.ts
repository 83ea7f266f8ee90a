// Chooses the model provider from configuration.
import type { Config } from "../config.ts";
import { ConfigError } from "../config.ts";
import { OfflineProvider } from "./offline.ts";
import { OpenAIProvider } from "./openai.ts";
import type { ModelProvider } from "./provider.ts";

export function createModelProvider(config: Config): ModelProvider {
  if (config.model.provider === "offline") return new OfflineProvider();
  const apiKey = config.model.openaiApiKey;
  // loadConfig already requires it; a hand-built config must not reach the network keyless.
  if (!apiKey) throw new ConfigError("OPENAI_API_KEY", "required when SCOPEGATE_MODEL_PROVIDER=openai");
  return new OpenAIProvider({ apiKey, baseURL: config.model.openaiBaseUrl, model: config.model.name });
}
