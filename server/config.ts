// Configuration: the environment parsed and validated once with zod at start-up, then passed
// down. Nothing below server/main.ts reads process.env.
import { type KeyObject, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import { join, resolve } from "node:path";
import { z } from "zod";
import { generateSigningKeyText, parsePublicKey, parseSigningKey, type SigningKey } from "./audit/signing.ts";

export interface VersionedSecret {
  version: number;
  key: Buffer;
}

export interface GuardThresholds {
  flag: number;
  block: number;
}

export interface AuditConfig {
  /** Where checkpoint files and the outage spool live (`<data dir>/audit`); null = no file sink. */
  dir: string | null;
  /** Signs checkpoints; null only for a verify-only setup (SCOPEGATE_AUDIT_VERIFY_KEYS alone). */
  signingKey: SigningKey | null;
  /** Public keys accepted on checkpoints: the signing key's own, then older or external ones. */
  verifyKeys: KeyObject[];
  /** A checkpoint every this many records, or every interval when anything was written. */
  checkpointEvery: number;
  checkpointIntervalMs: number;
  /** `audit prune` never deletes records younger than this. */
  minRetentionDays: number;
}

export interface Config {
  port: number;
  database: { kind: "postgres"; url: string } | { kind: "pglite"; dataDir: string };
  dataDir: string;
  /** Newest first: the first hashes new keys, every one still verifies. */
  peppers: VersionedSecret[];
  auditKey: VersionedSecret[];
  audit: AuditConfig;
  model: {
    provider: "offline" | "openai";
    timeoutMs: number;
    name: string;
    openaiApiKey: string | undefined;
    openaiBaseUrl: string | undefined;
  };
  paymentApiUrl: string | undefined;
  trustedProxies: BlockList;
  corsOrigins: string[];
  isDev: boolean;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** Default injection thresholds, and per-procedure overrides (`SCOPEGATE_GUARD_THRESHOLDS`). */
  guard: GuardThresholds;
  guardByProcedure: Record<string, GuardThresholds>;
  /** The only hosts model output may link to or load from (exact match); every other link is removed. */
  outputLinkHosts: string[];
  ops: {
    /** How long SIGTERM waits for in-flight calls before ending them with a `shutdown` record. */
    drainTimeoutMs: number;
    /** Who may read /metrics on the main port (default loopback only); null port = main port. */
    metricsAllow: BlockList;
    metricsPort: number | null;
  };
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`${variable}: ${detail}`);
  }
}

const booleanFlag = z
  .enum(["1", "0", "true", "false", "yes", "no", ""])
  .optional()
  .transform((v) => v === "1" || v === "true" || v === "yes");

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
    .optional(),
  SCOPEGATE_DATA_DIR: z.string().min(1).default(".data"),
  SCOPEGATE_MODEL_PROVIDER: z.enum(["offline", "openai"]).optional(),
  SCOPEGATE_MODEL_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  SCOPEGATE_MODEL: z.string().min(1).default("gpt-4o-mini"),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  PAYMENT_API_URL: z.url({ protocol: /^https?$/ }).optional(),
  SCOPEGATE_TRUSTED_PROXIES: z.string().default(""),
  SCOPEGATE_CORS_ORIGINS: z.string().default(""),
  SCOPEGATE_DEV: booleanFlag,
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  SCOPEGATE_GUARD_FLAG_THRESHOLD: z.coerce.number().min(0).max(1).default(0.5),
  SCOPEGATE_GUARD_BLOCK_THRESHOLD: z.coerce.number().min(0).max(1).default(0.8),
  // Per procedure: `chat=0.4:0.7,summarizeDoc=0.5:0.9` (flag:block).
  SCOPEGATE_GUARD_THRESHOLDS: z.string().default(""),
  SCOPEGATE_OUTPUT_LINK_HOSTS: z.string().default(""),
  SCOPEGATE_AUDIT_CHECKPOINT_EVERY: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  SCOPEGATE_AUDIT_CHECKPOINT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  // Compliance regimes commonly ask for 30-90 days online; pruning below a day is a mistake.
  SCOPEGATE_AUDIT_MIN_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(30),
  SCOPEGATE_DRAIN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
  SCOPEGATE_METRICS_ALLOW: z.string().default("127.0.0.1/32,::1/128"),
  SCOPEGATE_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
});

type Env = Record<string, string | undefined>;

/** Parses the environment; embedded-mode secrets are created in the data dir on first start. */
export function loadConfig(env: Env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(String(issue?.path[0] ?? "environment"), issue?.message ?? "invalid");
  }
  const e = parsed.data;
  const dataDir = resolve(e.SCOPEGATE_DATA_DIR);
  const embedded = e.DATABASE_URL === undefined;
  const provider = e.SCOPEGATE_MODEL_PROVIDER ?? (embedded ? "offline" : undefined);
  if (!provider) {
    throw new ConfigError("SCOPEGATE_MODEL_PROVIDER", "required with DATABASE_URL (offline or openai)");
  }
  if (provider === "openai" && !e.OPENAI_API_KEY) {
    throw new ConfigError("OPENAI_API_KEY", "required when SCOPEGATE_MODEL_PROVIDER=openai");
  }
  if (e.SCOPEGATE_GUARD_FLAG_THRESHOLD > e.SCOPEGATE_GUARD_BLOCK_THRESHOLD) {
    throw new ConfigError("SCOPEGATE_GUARD_FLAG_THRESHOLD", "must not exceed the block threshold");
  }
  return {
    port: e.PORT,
    database: embedded
      ? { kind: "pglite", dataDir: join(dataDir, "pglite") }
      : { kind: "postgres", url: e.DATABASE_URL as string },
    dataDir,
    peppers: loadSecret(env, "SCOPEGATE_PEPPER", embedded ? dataDir : null),
    auditKey: loadSecret(env, "SCOPEGATE_AUDIT_KEY", embedded ? dataDir : null),
    audit: {
      dir: join(dataDir, "audit"),
      ...loadSigningKeys(env, embedded ? dataDir : null),
      checkpointEvery: e.SCOPEGATE_AUDIT_CHECKPOINT_EVERY,
      checkpointIntervalMs: e.SCOPEGATE_AUDIT_CHECKPOINT_SECONDS * 1000,
      minRetentionDays: e.SCOPEGATE_AUDIT_MIN_RETENTION_DAYS,
    },
    model: {
      provider,
      timeoutMs: e.SCOPEGATE_MODEL_TIMEOUT_MS,
      name: provider === "offline" ? "offline" : e.SCOPEGATE_MODEL,
      openaiApiKey: e.OPENAI_API_KEY,
      openaiBaseUrl: e.OPENAI_BASE_URL,
    },
    paymentApiUrl: e.PAYMENT_API_URL,
    trustedProxies: parseCidrs(e.SCOPEGATE_TRUSTED_PROXIES, "SCOPEGATE_TRUSTED_PROXIES"),
    corsOrigins: e.SCOPEGATE_CORS_ORIGINS.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    isDev: e.SCOPEGATE_DEV,
    logLevel: e.LOG_LEVEL,
    guard: { flag: e.SCOPEGATE_GUARD_FLAG_THRESHOLD, block: e.SCOPEGATE_GUARD_BLOCK_THRESHOLD },
    guardByProcedure: parseGuardThresholds(e.SCOPEGATE_GUARD_THRESHOLDS),
    outputLinkHosts: e.SCOPEGATE_OUTPUT_LINK_HOSTS.split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
    ops: {
      drainTimeoutMs: e.SCOPEGATE_DRAIN_TIMEOUT_MS,
      metricsAllow: parseCidrs(e.SCOPEGATE_METRICS_ALLOW, "SCOPEGATE_METRICS_ALLOW"),
      metricsPort: e.SCOPEGATE_METRICS_PORT ?? null,
    },
  };
}

/**
 * A secret from `NAME` or the file at `NAME_FILE` (as secret managers mount them):
 * base64 of >= 32 bytes, or versions as `2:<base64>,1:<base64>`, newest first.
 * In embedded mode a missing secret is generated once into the data dir (0600).
 */
function loadSecret(env: Env, name: string, generateInDir: string | null): VersionedSecret[] {
  let raw = readSecretText(env, name);
  if (!raw && generateInDir)
    raw = readOrCreateSecretFile(generateInDir, name.toLowerCase().replace(/_/g, "-"));
  if (!raw) throw new ConfigError(name, `required with DATABASE_URL (or ${name}_FILE)`);
  return parseVersionedSecret(name, raw);
}

/**
 * The checkpoint signing key (`SCOPEGATE_AUDIT_SIGNING_KEY[_FILE]`, base64 Ed25519 seed or PEM)
 * and the public keys verification accepts (its own, plus `SCOPEGATE_AUDIT_VERIFY_KEYS`: older
 * keys after a rotation, or an auditor's copy). Required with DATABASE_URL like the other
 * secrets, since a per-host generated key would leave other hosts' checkpoints unverifiable;
 * the one exception is a verify-only setup that gives SCOPEGATE_AUDIT_VERIFY_KEYS alone.
 */
function loadSigningKeys(
  env: Env,
  generateInDir: string | null,
): Pick<AuditConfig, "signingKey" | "verifyKeys"> {
  const name = "SCOPEGATE_AUDIT_SIGNING_KEY";
  const verifyKeys = (env.SCOPEGATE_AUDIT_VERIFY_KEYS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text) => {
      try {
        return parsePublicKey(text);
      } catch (error) {
        throw new ConfigError("SCOPEGATE_AUDIT_VERIFY_KEYS", (error as Error).message);
      }
    });
  let raw = readSecretText(env, name);
  if (!raw && generateInDir)
    raw = readOrCreateSecretFile(generateInDir, "audit-signing-key", generateSigningKeyText);
  if (!raw) {
    if (verifyKeys.length > 0) return { signingKey: null, verifyKeys };
    throw new ConfigError(name, `required with DATABASE_URL (or ${name}_FILE)`);
  }
  let signingKey: SigningKey;
  try {
    signingKey = parseSigningKey(raw);
  } catch (error) {
    throw new ConfigError(name, (error as Error).message);
  }
  return { signingKey, verifyKeys: [signingKey.publicKey, ...verifyKeys] };
}

export function parseVersionedSecret(name: string, raw: string): VersionedSecret[] {
  const parts = raw.split(",").map((p) => p.trim());
  const secrets = parts.map((part, index) => {
    const match = /^(?:(\d{1,6}):)?([A-Za-z0-9+/=_-]+)$/.exec(part);
    if (!match?.[2]) throw new ConfigError(name, "expected base64, or versions as 2:<base64>,1:<base64>");
    if (!match[1] && parts.length > 1) throw new ConfigError(name, "every version needs a number");
    const key = Buffer.from(match[2], "base64");
    if (key.length < 32) throw new ConfigError(name, "must hold at least 32 random bytes");
    return { version: match[1] ? Number(match[1]) : 1, key, index };
  });
  for (let i = 1; i < secrets.length; i++) {
    const newer = secrets[i - 1];
    const older = secrets[i];
    if (newer && older && newer.version <= older.version) {
      throw new ConfigError(name, "versions must be listed newest first, each once");
    }
  }
  return secrets.map(({ version, key }) => ({ version, key }));
}

/** `NAME`, or the contents of the file at `NAME_FILE` (as secret managers mount them). */
function readSecretText(env: Env, name: string): string | undefined {
  const filePath = env[`${name}_FILE`];
  const raw = env[name];
  if (!filePath) return raw;
  if (raw) throw new ConfigError(name, `set either ${name} or ${name}_FILE, not both`);
  try {
    return readFileSync(filePath, "utf8").trim();
  } catch {
    throw new ConfigError(`${name}_FILE`, "cannot read the file");
  }
}

function readOrCreateSecretFile(
  dataDir: string,
  fileName: string,
  generate: () => string = () => `1:${randomBytes(32).toString("base64")}`,
): string {
  const path = join(dataDir, fileName);
  if (existsSync(path)) return readFileSync(path, "utf8").trim();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const value = generate();
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return value;
}

function parseGuardThresholds(list: string): Record<string, GuardThresholds> {
  const byProcedure: Record<string, GuardThresholds> = {};
  for (const entry of list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const match = /^([A-Za-z][A-Za-z0-9.]*)=([01](?:\.\d+)?):([01](?:\.\d+)?)$/.exec(entry);
    const flag = Number(match?.[2]);
    const block = Number(match?.[3]);
    if (!match?.[1] || !(flag <= block && block <= 1)) {
      throw new ConfigError(
        "SCOPEGATE_GUARD_THRESHOLDS",
        `expected procedure=flag:block with 0 <= flag <= block <= 1: ${entry}`,
      );
    }
    byProcedure[match[1]] = { flag, block };
  }
  return byProcedure;
}

function parseCidrs(list: string, variable: string): BlockList {
  const blockList = new BlockList();
  for (const entry of list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [address = "", prefixText] = entry.split("/");
    const family = isIP(address);
    if (family === 0) throw new ConfigError(variable, `not an IP or CIDR: ${entry}`);
    const type = family === 4 ? "ipv4" : "ipv6";
    const prefix = prefixText === undefined ? (family === 4 ? 32 : 128) : Number(prefixText);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
      throw new ConfigError(variable, `bad prefix length: ${entry}`);
    }
    blockList.addSubnet(address, prefix, type);
  }
  return blockList;
}
