// The package version `scopegate --version` prints, read from package.json beside the sources
// (the build keeps each module's import.meta.url, so this also holds in dist/).
import { readFileSync } from "node:fs";

export function packageVersion(): string {
  const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
  const version = (JSON.parse(text) as { version?: unknown }).version;
  return typeof version === "string" ? version : "unknown";
}
