// Help and usage of the real `scopegate` bin, for every command the registry holds: --help and -h
// print that command's own usage and run nothing (no configuration read, no data dir created);
// a wrong flag, a missing argument or an unknown command exits 2 with the right usage.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { COMMANDS } from "../../server/cli/registry.ts";
import { baseEnv, removeDir, runCli, stopAllChildren, tempDataDir } from "./cli-helpers.ts";

const dirs: string[] = [];
afterEach(async () => {
  await stopAllChildren();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

/** An environment whose data dir does not exist yet: any command that ran would create it. */
function untouchedEnv() {
  const parent = tempDataDir();
  dirs.push(parent);
  const dataDir = join(parent, "data");
  return { dataDir, env: baseEnv({ SCOPEGATE_DATA_DIR: dataDir }) };
}

const usageLine = (name: string) => `Usage: scopegate ${name}`;
const otherCommands = (name: string) => COMMANDS.filter((c) => c.name !== name).map((c) => c.name);

describe("scopegate help", () => {
  it.each(COMMANDS.map((c) => [c.name]))(
    "%s --help and -h print its own usage and run nothing",
    async (name) => {
      for (const flag of ["--help", "-h"]) {
        const { dataDir, env } = untouchedEnv();
        // A flag that would change the command's work comes first: help still wins.
        const result = await runCli([...name.split(" "), "--json", flag], env);
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout.startsWith(usageLine(name))).toBe(true);
        expect(result.stdout).toContain("-h, --help");
        for (const other of otherCommands(name)) expect(result.stdout).not.toContain(usageLine(other));
        expect(result.stderr).toBe("");
        expect(existsSync(dataDir), `${name} ${flag} touched the data dir`).toBe(false);
      }
    },
  );

  it("migrate --help never migrates, wherever the flag is", async () => {
    for (const args of [
      ["migrate", "--help"],
      ["migrate", "-h"],
      ["help", "migrate"],
    ]) {
      const { dataDir, env } = untouchedEnv();
      const result = await runCli(args, env);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(usageLine("migrate"));
      expect(result.stdout).not.toContain("migrations applied");
      expect(existsSync(dataDir)).toBe(false);
    }
  });

  it("--version prints the package version; bare help lists every command", async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8"));
    for (const flag of ["--version", "-V"]) {
      const result = await runCli([flag], untouchedEnv().env);
      expect(result).toMatchObject({ code: 0, stdout: `scopegate ${version}\n` });
    }
    const help = await runCli(["--help"], untouchedEnv().env);
    expect(help.code).toBe(0);
    for (const command of COMMANDS) expect(help.stdout).toContain(`  ${command.name} `);
    const bare = await runCli([], untouchedEnv().env);
    expect(bare.code).toBe(2);
  });
});

describe("scopegate usage errors", () => {
  it.each(COMMANDS.map((c) => [c.name]))(
    "%s with an unknown flag exits 2 with its own usage",
    async (name) => {
      const { dataDir, env } = untouchedEnv();
      const result = await runCli([...name.split(" "), "--no-such-flag"], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("--no-such-flag");
      expect(result.stderr).toContain(usageLine(name));
      for (const other of otherCommands(name)) expect(result.stderr).not.toContain(usageLine(other));
      expect(result.stdout).toBe("");
      expect(existsSync(dataDir)).toBe(false);
    },
  );

  it("a missing positional, a bad value or an extra argument names the command", async () => {
    const cases: Array<[string[], RegExp, string]> = [
      [["keys", "show"], /keys show needs ID/, "keys show"],
      [["docs", "remove", "--source", "s"], /docs remove needs ID/, "docs remove"],
      [["keys", "revoke", "a", "b"], /unexpected argument b/, "keys revoke"],
      [["keys", "create", "--name", "n"], /needs --name and at least one --scope/, "keys create"],
      [
        ["keys", "create", "--name", "n", "--scope", "endpoint:chat", "--ttl", "soon"],
        /not a duration/,
        "keys create",
      ],
      [
        ["keys", "create", "--name", "n", "--scope", "endpoint:chat", "--env", "prod"],
        /--env is live or test/,
        "keys create",
      ],
      [["audit", "list", "--outcome", "maybe"], /--outcome is one of/, "audit list"],
      [["guard", "scan", "--input", "xml"], /--input is one of/, "guard scan"],
      [["serve", "--port", "http"], /--port takes/, "serve"],
    ];
    for (const [args, message, name] of cases) {
      const result = await runCli(args, untouchedEnv().env);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain(usageLine(name));
    }
  });

  it("an unknown command or subcommand exits 2 with the list it was looked up in", async () => {
    const group = await runCli(["keys", "frobnicate"], untouchedEnv().env);
    expect(group.code).toBe(2);
    expect(group.stderr).toContain("unknown command: keys frobnicate");
    expect(group.stderr).toContain("Usage: scopegate keys <command>");
    expect(group.stderr).not.toContain("audit list");
    const bare = await runCli(["keys"], untouchedEnv().env);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("keys create");
    const top = await runCli(["frobnicate"], untouchedEnv().env);
    expect(top.code).toBe(2);
    expect(top.stderr).toContain("unknown command: frobnicate");
  });

  it("with --json a usage error is one JSON document on stderr", async () => {
    const result = await runCli(["keys", "create", "--json", "--name", "n"], untouchedEnv().env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    const parsed = JSON.parse(result.stderr) as { error: { reason: string; message: string; usage: string } };
    expect(parsed.error.reason).toBe("usage");
    expect(parsed.error.message).toMatch(/needs --name/);
    expect(parsed.error.usage).toContain(usageLine("keys create"));
  });
});
