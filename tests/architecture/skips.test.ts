// A CI run cannot pass with tests silently left out: every conditional skip goes through
// tests/helpers/skip.ts, which skips for the other database anywhere but fails for a missing
// prerequisite (browser, root, PostgreSQL binaries) under CI=true.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const TESTS = join(ROOT, "tests");
// Only the helper itself and this file may spell a skip another way (here: in patterns).
const EXEMPT = new Set(["tests/helpers/skip.ts", "tests/architecture/skips.test.ts"]);

function testSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "artifacts" ? [] : testSources(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

interface Report {
  testResults: { assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

function runFixture(ci: string | undefined): {
  status: number | null;
  results: Map<string, string>;
  failures: string;
} {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.CI;
  if (ci !== undefined) env.CI = ci;
  const run = spawnSync(
    process.execPath,
    [
      join(ROOT, "node_modules/vitest/vitest.mjs"),
      "run",
      "--config",
      "tests/architecture/fixtures/vitest.config.ts",
      "--reporter=json",
    ],
    { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 },
  );
  const report = JSON.parse(run.stdout.slice(run.stdout.indexOf("{"))) as Report;
  const assertions = report.testResults.flatMap((file) => file.assertionResults);
  return {
    status: run.status,
    results: new Map(assertions.map((a) => [a.fullName, a.status])),
    failures: assertions.flatMap((a) => a.failureMessages).join("\n"),
  };
}

describe("conditional skips", () => {
  it("all name their reason through tests/helpers/skip.ts", () => {
    const offences: string[] = [];
    for (const file of testSources(TESTS)) {
      const name = relative(ROOT, file);
      if (EXEMPT.has(name)) continue;
      const text = readFileSync(file, "utf8");
      // The helper's call itself, or a const assigned from one (keeps a long title on one line).
      const decisions = new Set(["otherDatabase", "missingPrerequisite"]);
      for (const [, name] of text.matchAll(/const (\w+) = (?:otherDatabase|missingPrerequisite)\(/g)) {
        if (name) decisions.add(name);
      }
      for (const match of text.matchAll(/\.(skipIf|runIf|skip|todo)\s*\(\s*(\w*)|\bskip\s*\(\s*\)/g)) {
        const viaHelper = match[1] === "skipIf" && decisions.has(match[2] ?? "");
        if (!viaHelper) offences.push(`${name}: ${match[0]}`);
      }
    }
    expect(offences).toEqual([]);
  });

  it("skip a missing prerequisite on a developer's machine", () => {
    const run = runFixture(undefined);
    expect(run.status, run.failures).toBe(0);
    expect(run.results.get("a missing prerequisite would ride it")).toBe("skipped");
    expect(run.results.get("the other database runs on its own run")).toBe("skipped");
    expect(run.results.get("a present prerequisite rides it")).toBe("passed");
  }, 60_000);

  it("fail a missing prerequisite under CI=true, and still skip the other database's tests", () => {
    const run = runFixture("true");
    expect(run.status).toBe(1);
    expect(run.results.get("has its prerequisite: a unicorn")).toBe("failed");
    expect(run.failures).toContain("no unicorn on this machine");
    expect(run.results.get("a missing prerequisite would ride it")).toBe("skipped");
    expect(run.results.get("the other database runs on its own run")).toBe("skipped");
    expect(run.results.get("a present prerequisite rides it")).toBe("passed");
  }, 60_000);
});
