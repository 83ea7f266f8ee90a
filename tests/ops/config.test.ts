// Configuration as an operator meets it: every problem in one run, nothing written for a bad
// environment, bind-address and audit-directory defaults per mode, and CORS origins that are
// exactly what a browser sends in `Origin`.
import { type KeyObject, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { generateSigningKeyText, parseSigningKey, publicKeyText } from "../../server/audit/signing.ts";
import { ConfigError, loadConfig, parseOrigins } from "../../server/config.ts";

const secret = () => randomBytes(32).toString("base64");
const postgresBase = () => ({
  DATABASE_URL: "postgres://scopegate_app@db.internal:5432/scopegate",
  SCOPEGATE_PEPPER: secret(),
  SCOPEGATE_AUDIT_KEY: secret(),
  SCOPEGATE_AUDIT_SIGNING_KEY: secret(),
  SCOPEGATE_MODEL_PROVIDER: "offline",
});

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((p) => p.variable);
  }
}

// Independent faults; any subset of them must be reported together, each by its variable.
const FAULTS: Record<string, (env: Record<string, string | undefined>) => void> = {
  PORT: (env) => {
    env.PORT = "eighty";
  },
  HOST: (env) => {
    env.HOST = "not a host";
  },
  SCOPEGATE_CORS_ORIGINS: (env) => {
    env.SCOPEGATE_CORS_ORIGINS = "https://app.example.com/path";
  },
  SCOPEGATE_TRUSTED_PROXIES: (env) => {
    env.SCOPEGATE_TRUSTED_PROXIES = "10.0.0.0/99";
  },
  SCOPEGATE_PEPPER: (env) => {
    env.SCOPEGATE_PEPPER = undefined;
  },
  SCOPEGATE_AUDIT_KEY: (env) => {
    env.SCOPEGATE_AUDIT_KEY = "c2hvcnQ=";
  },
  SCOPEGATE_AUDIT_SIGNING_KEY: (env) => {
    env.SCOPEGATE_AUDIT_SIGNING_KEY = undefined;
  },
  SCOPEGATE_MODEL_PROVIDER: (env) => {
    env.SCOPEGATE_MODEL_PROVIDER = undefined;
  },
  LOG_LEVEL: (env) => {
    env.LOG_LEVEL = "loud";
  },
  SCOPEGATE_GUARD_THRESHOLDS: (env) => {
    env.SCOPEGATE_GUARD_THRESHOLDS = "chat=0.9:0.1";
  },
};

describe("configuration", () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "sg-config-"));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("reports every problem of a run at once, whatever the combination", () => {
    fc.assert(
      fc.property(fc.subarray(Object.keys(FAULTS), { minLength: 1 }), (faults) => {
        const env: Record<string, string | undefined> = postgresBase();
        for (const fault of faults) FAULTS[fault]?.(env);
        expect(problemsOf(env).sort()).toEqual([...faults].sort());
      }),
      { numRuns: 200 },
    );
  });

  it("prints them all in one message, one line each", () => {
    let message = "";
    try {
      loadConfig({ DATABASE_URL: "postgres://db/x", HOST: "a b" });
    } catch (error) {
      message = (error as ConfigError).message;
    }
    expect(message.split("\n").map((line) => line.trim().split(":")[0])).toEqual([
      "5 problems",
      "SCOPEGATE_MODEL_PROVIDER",
      "HOST",
      "SCOPEGATE_PEPPER",
      "SCOPEGATE_AUDIT_KEY",
      "SCOPEGATE_AUDIT_SIGNING_KEY",
    ]);
  });

  it("writes no generated secret for an embedded environment that has problems", () => {
    const dataDir = tempDir();
    expect(problemsOf({ SCOPEGATE_DATA_DIR: dataDir, PORT: "-1", SCOPEGATE_CORS_ORIGINS: "*" })).toEqual([
      "PORT",
      "SCOPEGATE_CORS_ORIGINS",
    ]);
    expect(readdirSync(dataDir)).toEqual([]);
    const config = loadConfig({ SCOPEGATE_DATA_DIR: dataDir });
    expect(config.peppers).toHaveLength(1);
    expect(existsSync(join(dataDir, "scopegate-pepper"))).toBe(true);
  });

  it("keeps SCOPEGATE_AUDIT_VERIFY_KEYS beside a signing key generated for the quick start", () => {
    const dataDir = tempDir();
    const older = parseSigningKey(generateSigningKeyText()).publicKey;
    const { audit } = loadConfig({
      SCOPEGATE_DATA_DIR: dataDir,
      SCOPEGATE_AUDIT_VERIFY_KEYS: publicKeyText(older),
    });
    expect(audit.signingKey).not.toBeNull();
    expect(audit.verifyKeys.map(publicKeyText)).toEqual([
      publicKeyText(audit.signingKey?.publicKey as KeyObject),
      publicKeyText(older),
    ]);
  });

  it("binds the quick start to loopback and a Postgres deployment to HOST (default: every interface)", () => {
    const dataDir = tempDir();
    expect(loadConfig({ SCOPEGATE_DATA_DIR: dataDir }).host).toBe("127.0.0.1");
    expect(loadConfig({ SCOPEGATE_DATA_DIR: dataDir, HOST: "0.0.0.0" }).host).toBe("0.0.0.0");
    expect(loadConfig(postgresBase()).host).toBeNull();
    expect(loadConfig({ ...postgresBase(), HOST: "10.1.2.3" }).host).toBe("10.1.2.3");
    expect(loadConfig({ ...postgresBase(), HOST: "[::1]" }).host).toBe("::1");
    for (const bad of ["a b", "http://x", "-lead.example", "x..y", "1.2.3.4:80", "*"]) {
      expect(problemsOf({ ...postgresBase(), HOST: bad }), bad).toEqual(["HOST"]);
    }
  });

  it("gives each Postgres database its own audit directory, apart from the quick start's", () => {
    const dataDir = tempDir();
    const dirOf = (url: string | undefined, extra: Record<string, string> = {}) =>
      loadConfig({ ...postgresBase(), SCOPEGATE_DATA_DIR: dataDir, DATABASE_URL: url, ...extra }).audit.dir;
    const embedded = loadConfig({ SCOPEGATE_DATA_DIR: dataDir }).audit.dir;
    const app = dirOf("postgres://scopegate_app:pw@db.internal:5432/scopegate");
    expect(embedded).toBe(join(dataDir, "audit"));
    expect(app?.startsWith(join(dataDir, "audit-postgres"))).toBe(true);
    // The owner (migrate, prune) and the application role share one database's files.
    expect(dirOf("postgres://scopegate_owner@db.internal/scopegate")).toBe(app);
    expect(dirOf("postgres://scopegate_app@db.internal:5433/scopegate")).not.toBe(app);
    expect(dirOf("postgres://scopegate_app@db.internal/other")).not.toBe(app);
    expect(dirOf("postgres://scopegate_app@db2.internal/scopegate")).not.toBe(app);
    // Names that sanitize alike stay apart.
    expect(dirOf("postgres://a@h/db_1")).not.toBe(dirOf("postgres://a@h/db%201"));
    expect(app).not.toContain("pw");
    expect(dirOf("postgres://a@h/db", { SCOPEGATE_AUDIT_DIR: "/var/lib/scopegate/audit" })).toBe(
      "/var/lib/scopegate/audit",
    );
  });
});

describe("SCOPEGATE_CORS_ORIGINS", () => {
  const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);
  const host = fc
    .array(label, { minLength: 1, maxLength: 4 })
    .map((labels) => labels.join("."))
    // A numeric (or 0x) last label makes URL parse the host as IPv4, as browsers do.
    .filter((h) => !/(^|\.)(\d+|0x[0-9a-f]*)$/.test(h));
  const origin = fc
    .tuple(fc.constantFrom("http", "https"), host, fc.option(fc.integer({ min: 1, max: 65535 })))
    .map(([scheme, h, port]) => `${scheme}://${h}${port === null ? "" : `:${port}`}`);

  it("accepts scheme://host[:port] and keeps the form a browser sends", () => {
    fc.assert(
      fc.property(fc.array(origin, { minLength: 1, maxLength: 5 }), (origins) => {
        const parsed = parseOrigins(origins.join(" , "));
        expect(parsed).toEqual([...new Set(origins.map((o) => new URL(o).origin))]);
      }),
    );
    expect(parseOrigins("HTTPS://App.Example.com:443,http://[::1]:8080")).toEqual([
      "https://app.example.com",
      "http://[::1]:8080",
    ]);
  });

  it("refuses paths, wildcards, credentials, queries, other schemes and the null origin", () => {
    const tricks = [
      (o: string) => `${o}/`,
      (o: string) => `${o}/app`,
      (o: string) => `${o}?x=1`,
      (o: string) => `${o}#x`,
      (o: string) => o.replace("://", "://*."),
      (o: string) => o.replace("://", "://user:pw@"),
      (o: string) => o.replace("://", "://evil.example\\@"),
      (o: string) => o.replace(/^https?/, "ftp"),
      (o: string) => o.replace(/^https?:\/\//, ""),
      (o: string) => `${o}%2F..`,
      (o: string) => `${o} extra`,
      () => "*",
      () => "null",
      () => "https://",
      () => "https://a.example:99999",
    ];
    fc.assert(
      fc.property(origin, fc.constantFrom(...tricks), (o, trick) => {
        const bad = trick(o);
        expect(() => parseOrigins(`https://fine.example,${bad}`), bad).toThrow(ConfigError);
        try {
          parseOrigins(bad);
        } catch (error) {
          expect((error as ConfigError).problems[0]?.variable).toBe("SCOPEGATE_CORS_ORIGINS");
        }
      }),
    );
  });
});
