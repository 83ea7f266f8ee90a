// Configuration: the environment parsed and validated once with zod at start-up, then passed
// down. Nothing below server/main.ts reads process.env.
import { createHash, type KeyObject, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import { join, resolve } from "node:path";
import { z } from "zod";
import { describeTarget } from "../db/connection-errors.ts";
import { generateSigningKeyText, parsePublicKey, parseSigningKey, type SigningKey } from "./audit/signing.ts";
import type { GuardThresholds } from "./guard/detect.ts";

export interface VersionedSecret {
  version: number;
  key: Buffer;
}

export interface AuditConfig {
  /** Where checkpoint files and the outage spool live (see auditDir); null = no file sink. */
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
  /** Bind address; null = every interface (Node's default: IPv6 and IPv4). */
  host: string | null;
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

export interface ConfigProblem {
  variable: string;
  detail: string;
}

/** Every problem found in one pass over the environment, so one run names them all. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];

  constructor(variable: string, detail: string);
  constructor(problems: ConfigProblem[]);
  constructor(first: string | ConfigProblem[], detail = "") {
    const problems = typeof first === "string" ? [{ variable: first, detail }] : first;
    const lines = problems.map((p) => `${p.variable}: ${p.detail}`);
    super(lines.length === 1 ? (lines[0] ?? "") : `${lines.length} problems\n  ${lines.join("\n  ")}`);
    this.problems = problems;
  }
}

const booleanFlag = z
  .enum(["1", "0", "true", "false", "yes", "no", ""])
  .optional()
  .transform((v) => v === "1" || v === "true" || v === "yes");

const POSTGRES_URL = /^postgres(ql)?:\/\//;

// The plain fields. HOST, SCOPEGATE_CORS_ORIGINS, SCOPEGATE_TRUSTED_PROXIES, SCOPEGATE_METRICS_ALLOW,
// SCOPEGATE_GUARD_THRESHOLDS and the secrets are parsed by loadConfig from the raw environment,
// so their problems are reported even when a field here fails.
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATABASE_URL: z.string().regex(POSTGRES_URL, "must be a postgres:// URL").optional(),
  SCOPEGATE_DATA_DIR: z.string().min(1).default(".data"),
  SCOPEGATE_AUDIT_DIR: z.string().min(1).optional(),
  SCOPEGATE_MODEL_PROVIDER: z.enum(["offline", "openai"]).optional(),
  SCOPEGATE_MODEL_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  SCOPEGATE_MODEL: z.string().min(1).default("gpt-4o-mini"),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  PAYMENT_API_URL: z.url({ protocol: /^https?$/ }).optional(),
  SCOPEGATE_DEV: booleanFlag,
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  SCOPEGATE_GUARD_FLAG_THRESHOLD: z.coerce.number().min(0).max(1).default(0.5),
  SCOPEGATE_GUARD_BLOCK_THRESHOLD: z.coerce.number().min(0).max(1).default(0.8),
  SCOPEGATE_OUTPUT_LINK_HOSTS: z.string().default(""),
  SCOPEGATE_AUDIT_CHECKPOINT_EVERY: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  SCOPEGATE_AUDIT_CHECKPOINT_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  // Compliance regimes commonly ask for 30-90 days online; pruning below a day is a mistake.
  SCOPEGATE_AUDIT_MIN_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(30),
  SCOPEGATE_DRAIN_TIMEOUT_MS: z.coerce.number().int().min(0).max(600_000).default(30_000),
  SCOPEGATE_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
});

type Env = Record<string, string | undefined>;

/** Collects problems instead of stopping at the first; `take` runs a parser and keeps its error. */
class Problems {
  readonly list: ConfigProblem[] = [];

  add(variable: string, detail: string): void {
    this.list.push({ variable, detail });
  }

  take<T>(parse: () => T, fallback: T): T {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.list.push(...error.problems);
      return fallback;
    }
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new ConfigError(this.list);
  }
}

/**
 * Parses the environment and reports every problem in it at once (ConfigError.problems).
 * Embedded-mode secrets are created in the data dir on first start, only once the rest is valid.
 */
export function loadConfig(env: Env): Config {
  const problems = new Problems();
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.add(String(issue.path[0] ?? "environment"), issue.message);
  }
  // The checks below read the raw environment too, so they run even when a field failed above.
  const embedded = env.DATABASE_URL === undefined;
  // Defaults stand in for a failed parse; nothing is returned from them (throwIfAny below).
  const e = parsed.success ? parsed.data : envSchema.parse({});
  if (!env.SCOPEGATE_MODEL_PROVIDER && !embedded) {
    problems.add("SCOPEGATE_MODEL_PROVIDER", "required with DATABASE_URL (offline or openai)");
  }
  if (env.SCOPEGATE_MODEL_PROVIDER === "openai" && !env.OPENAI_API_KEY) {
    problems.add("OPENAI_API_KEY", "required when SCOPEGATE_MODEL_PROVIDER=openai");
  }
  if (e.SCOPEGATE_GUARD_FLAG_THRESHOLD > e.SCOPEGATE_GUARD_BLOCK_THRESHOLD) {
    problems.add("SCOPEGATE_GUARD_FLAG_THRESHOLD", "must not exceed the block threshold");
  }
  const host = problems.take(() => parseHost(env.HOST, embedded), null);
  const corsOrigins = problems.take(() => parseOrigins(env.SCOPEGATE_CORS_ORIGINS ?? ""), []);
  const trustedProxies = problems.take(
    () => parseCidrs(env.SCOPEGATE_TRUSTED_PROXIES ?? "", "SCOPEGATE_TRUSTED_PROXIES"),
    new BlockList(),
  );
  const metricsAllow = problems.take(
    () => parseCidrs(env.SCOPEGATE_METRICS_ALLOW ?? "127.0.0.1/32,::1/128", "SCOPEGATE_METRICS_ALLOW"),
    new BlockList(),
  );
  // Per procedure: `chat=0.4:0.7,summarizeDoc=0.5:0.9` (flag:block).
  const guardByProcedure = problems.take(
    () => parseGuardThresholds(env.SCOPEGATE_GUARD_THRESHOLDS ?? ""),
    {},
  );
  const givenPepper = problems.take(() => givenSecret(env, "SCOPEGATE_PEPPER", embedded), null);
  const givenAuditKey = problems.take(() => givenSecret(env, "SCOPEGATE_AUDIT_KEY", embedded), null);
  const verifyKeys = problems.take(() => parseVerifyKeys(env), []);
  const givenSigning = problems.take(() => givenSigningKeys(env, embedded, verifyKeys), null);
  problems.throwIfAny();

  const dataDir = resolve(e.SCOPEGATE_DATA_DIR);
  const databaseUrl = env.DATABASE_URL;
  // Only a valid environment gets files written for it.
  const generated = (fileName: string, generate?: () => string) =>
    readOrCreateSecretFile(dataDir, fileName, generate);
  const peppers =
    givenPepper ??
    problems.take(() => parseVersionedSecret("SCOPEGATE_PEPPER", generated("scopegate-pepper")), []);
  const auditKey =
    givenAuditKey ??
    problems.take(() => parseVersionedSecret("SCOPEGATE_AUDIT_KEY", generated("scopegate-audit-key")), []);
  const signing =
    givenSigning ??
    problems.take(() => signingKeysFrom(generated("audit-signing-key", generateSigningKeyText), verifyKeys), {
      signingKey: null,
      verifyKeys: [],
    });
  problems.throwIfAny();
  const provider = e.SCOPEGATE_MODEL_PROVIDER ?? "offline";
  return {
    port: e.PORT,
    host,
    database:
      databaseUrl === undefined
        ? { kind: "pglite", dataDir: join(dataDir, "pglite") }
        : { kind: "postgres", url: databaseUrl },
    dataDir,
    peppers,
    auditKey,
    audit: {
      dir: auditDir(e.SCOPEGATE_AUDIT_DIR, dataDir, databaseUrl),
      ...signing,
      checkpointEvery: e.SCOPEGATE_AUDIT_CHECKPOINT_EVERY,
      checkpointIntervalMs: e.SCOPEGATE_AUDIT_CHECKPOINT_SECONDS * 1000,
      minRetentionDays: e.SCOPEGATE_AUDIT_MIN_RETENTION_DAYS,
    },
    model: {
      provider,
      timeoutMs: e.SCOPEGATE_MODEL_TIMEOUT_MS,
      name: provider === "openai" ? e.SCOPEGATE_MODEL : "offline",
      openaiApiKey: e.OPENAI_API_KEY,
      openaiBaseUrl: e.OPENAI_BASE_URL,
    },
    paymentApiUrl: e.PAYMENT_API_URL,
    trustedProxies,
    corsOrigins,
    isDev: e.SCOPEGATE_DEV,
    logLevel: e.LOG_LEVEL,
    guard: { flag: e.SCOPEGATE_GUARD_FLAG_THRESHOLD, block: e.SCOPEGATE_GUARD_BLOCK_THRESHOLD },
    guardByProcedure,
    outputLinkHosts: e.SCOPEGATE_OUTPUT_LINK_HOSTS.split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
    ops: {
      drainTimeoutMs: e.SCOPEGATE_DRAIN_TIMEOUT_MS,
      metricsAllow,
      metricsPort: e.SCOPEGATE_METRICS_PORT ?? null,
    },
  };
}

/** DATABASE_URL alone, for commands that only need to know which database (`db roles`). */
export function loadDatabaseUrl(env: Env): string {
  const url = env.DATABASE_URL;
  if (url === undefined) {
    throw new ConfigError(
      "DATABASE_URL",
      "required: db roles is for PostgreSQL (the embedded database has no roles)",
    );
  }
  if (!POSTGRES_URL.test(url)) throw new ConfigError("DATABASE_URL", "must be a postgres:// URL");
  return url;
}

/**
 * Where audit checkpoint files and the outage spool go. Embedded: `<data dir>/audit`. Postgres:
 * a directory of its own per database (`<data dir>/audit-postgres/<host>-<port>-<db>-<hash>`),
 * so the quick start's files, or another database's, never sit beside this database's — the
 * verifier reads every checkpoint file in the directory and would call foreign ones tampering.
 */
function auditDir(explicit: string | undefined, dataDir: string, databaseUrl: string | undefined): string {
  if (explicit) return resolve(explicit);
  if (databaseUrl === undefined) return join(dataDir, "audit");
  return join(dataDir, "audit-postgres", databaseIdentity(databaseUrl));
}

/** host, port and database name (not the user: owner and app roles share the files). */
function databaseIdentity(url: string): string {
  const target = describeTarget(url);
  const host = target.host.toLowerCase();
  const { port, database } = target;
  const readable = `${host}-${port}-${database}`.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 80);
  // Sanitizing can map two names to one; the hash of the exact triple keeps them apart.
  const hash = createHash("sha256").update(`${host}\n${port}\n${database}`).digest("hex").slice(0, 8);
  return `${readable}-${hash}`;
}

/**
 * The bind address. Embedded (the quick start) defaults to loopback, so a laptop never exposes
 * it; Postgres mode, a deployment behind a load balancer, defaults to every interface (null).
 */
function parseHost(raw: string | undefined, embedded: boolean): string | null {
  if (raw === undefined || raw === "") return embedded ? "127.0.0.1" : null;
  const bracketless = raw.replace(/^\[(.*)\]$/, "$1");
  if (isIP(bracketless) !== 0) return bracketless;
  if (
    /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
      raw,
    )
  ) {
    return raw;
  }
  throw new ConfigError("HOST", `not an IP address or host name: ${JSON.stringify(raw.slice(0, 64))}`);
}

/**
 * Browser origins allowed by CORS, each exactly `scheme://host[:port]` as a browser sends it in
 * `Origin`: http or https, no path, query, credentials or wildcard, and not `null` (sandboxed
 * frames and file pages send that, so allowing it would allow any of them).
 */
export function parseOrigins(list: string): string[] {
  const origins: string[] = [];
  const bad: string[] = [];
  for (const entry of list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const origin = parseOrigin(entry);
    if (origin === null) bad.push(entry);
    else if (!origins.includes(origin)) origins.push(origin);
  }
  if (bad.length > 0) {
    throw new ConfigError(
      "SCOPEGATE_CORS_ORIGINS",
      `expected scheme://host[:port] origins (no path, no wildcard): ${bad.map((b) => JSON.stringify(b.slice(0, 100))).join(", ")}`,
    );
  }
  return origins;
}

// scheme://host[:port] with a bracketed IPv6 literal or dot-separated DNS labels, nothing more.
const ORIGIN_SHAPE =
  /^https?:\/\/(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::\d{1,5})?$/i;

function parseOrigin(entry: string): string | null {
  // Shape first: URL() alone would quietly drop a path, credentials or a default port.
  if (!ORIGIN_SHAPE.test(entry)) return null;
  try {
    // The serialized origin, as browsers send it: lower-case host, default port dropped.
    const origin = new URL(entry).origin;
    return origin === "null" ? null : origin;
  } catch {
    // A port past 65535, a malformed IPv6 literal, or a host that parses as a bad IPv4 address.
    return null;
  }
}

/**
 * A secret from `NAME` or the file at `NAME_FILE` (as secret managers mount them):
 * base64 of >= 32 bytes, or versions as `2:<base64>,1:<base64>`, newest first.
 * null = not given: embedded mode then generates one into the data dir (0600).
 */
function givenSecret(env: Env, name: string, embedded: boolean): VersionedSecret[] | null {
  const raw = readSecretText(env, name);
  if (raw) return parseVersionedSecret(name, raw);
  if (embedded) return null;
  throw new ConfigError(name, `required with DATABASE_URL (or ${name}_FILE)`);
}

/**
 * The checkpoint signing key (`SCOPEGATE_AUDIT_SIGNING_KEY[_FILE]`, base64 Ed25519 seed or PEM)
 * and the public keys verification accepts (its own, plus `SCOPEGATE_AUDIT_VERIFY_KEYS`: older
 * keys after a rotation, or an auditor's copy). Required with DATABASE_URL like the other
 * secrets, since a per-host generated key would leave other hosts' checkpoints unverifiable;
 * the one exception is a verify-only setup that gives SCOPEGATE_AUDIT_VERIFY_KEYS alone.
 * null = not given in embedded mode (generated into the data dir).
 */
function givenSigningKeys(
  env: Env,
  embedded: boolean,
  verifyKeys: KeyObject[],
): Pick<AuditConfig, "signingKey" | "verifyKeys"> | null {
  const name = "SCOPEGATE_AUDIT_SIGNING_KEY";
  const raw = readSecretText(env, name);
  if (raw) return signingKeysFrom(raw, verifyKeys);
  if (embedded) return null;
  if (verifyKeys.length > 0) return { signingKey: null, verifyKeys };
  throw new ConfigError(name, `required with DATABASE_URL (or ${name}_FILE)`);
}

/** SCOPEGATE_AUDIT_VERIFY_KEYS: the public keys verification accepts besides the signing key's. */
function parseVerifyKeys(env: Env): KeyObject[] {
  return (env.SCOPEGATE_AUDIT_VERIFY_KEYS ?? "")
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
}

function signingKeysFrom(
  raw: string,
  verifyKeys: KeyObject[],
): Pick<AuditConfig, "signingKey" | "verifyKeys"> {
  let signingKey: SigningKey;
  try {
    signingKey = parseSigningKey(raw);
  } catch (error) {
    throw new ConfigError("SCOPEGATE_AUDIT_SIGNING_KEY", (error as Error).message);
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
