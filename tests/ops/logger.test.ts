// The JSON log lines: one per call, levels filtered (`silent` writes nothing), fields that hold a
// credential whole censored by name, errors reduced to what an operator needs (no bound query
// values), and a secret anywhere (message, field, field name, error) masked.
import { describe, expect, it } from "vitest";
import { createLogger, type LogLevel } from "../../server/logger.ts";

function capture(level: LogLevel) {
  const lines: string[] = [];
  return { lines, logger: createLogger(level, (line) => lines.push(line)) };
}

const parsed = (line: string | undefined) => JSON.parse(line ?? "") as Record<string, unknown>;

describe("logger", () => {
  it("writes one JSON line per call with ts, level and msg, and filters by level", () => {
    const { lines, logger } = capture("warn");
    logger.debug("not written");
    logger.info("not written either", { a: 1 });
    logger.warn("written", { port: 3000 });
    logger.error("also written");
    expect(lines).toHaveLength(2);
    // The message precedes the fields: scripts grep a line for the message, then a field.
    expect(lines[0]).toMatch(/"msg":"written","port":3000/);
    for (const line of lines) expect(line.endsWith("}\n")).toBe(true);
    const first = parsed(lines[0]);
    expect(first).toMatchObject({ level: "warn", msg: "written", port: 3000 });
    expect(new Date(String(first.ts)).toISOString()).toBe(first.ts);
    expect(parsed(lines[1])).toMatchObject({ level: "error", msg: "also written" });
  });

  it("writes nothing at level silent", () => {
    const { lines, logger } = capture("silent");
    logger.error("never", { error: new Error("x") });
    expect(lines).toEqual([]);
  });

  it("censors fields that hold a credential whole, whatever their value looks like", () => {
    const { lines, logger } = capture("info");
    logger.info("request", {
      headers: { authorization: "Bearer opaque", cookie: "session=opaque", accept: "*/*" },
      token: "opaque",
    });
    const line = lines[0] ?? "";
    expect(line).not.toContain("opaque");
    expect(parsed(line)).toMatchObject({ headers: { accept: "*/*", authorization: "[redacted]" } });
  });

  it("masks a secret in the message, a nested value, a field name and an error", () => {
    const { lines, logger } = capture("info");
    const secret = "sk-proj-abcdefghijklmnopqrstuv";
    logger.info(`got ${secret}`, {
      nested: { list: [`x ${secret}`], [secret]: 1 },
      error: new Error("failed", { cause: new AggregateError([new Error(secret)], secret) }),
    });
    const line = lines[0] ?? "";
    expect(line).not.toContain(secret);
    expect(parsed(line).msg).toBe("got [redacted:openai_key]");
  });

  it("keeps an error's name, code, errno, syscall and Postgres fields, and drops bound values", () => {
    const { lines, logger } = capture("error");
    const driver = Object.assign(new Error("relation does not exist"), {
      code: "42P01",
      severity: "ERROR",
      detail: "no such table",
      errno: -111,
      syscall: "connect",
    });
    const query = Object.assign(new Error("Failed query", { cause: driver }), { params: ["private prompt"] });
    logger.error("audit write failed", { error: query });
    const line = lines[0] ?? "";
    expect(line).not.toContain("private prompt");
    const error = parsed(line).error as Record<string, unknown>;
    expect(error).toMatchObject({ name: "Error", message: "Failed query" });
    expect(error.stack).toMatch(/logger\.test\.ts/);
    expect(error.cause).toMatchObject({
      code: "42P01",
      severity: "ERROR",
      detail: "no such table",
      errno: -111,
      syscall: "connect",
    });
  });
});
