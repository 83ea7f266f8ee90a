// @scopegate/client as an app outside this repository gets it: the packed tarball installed into
// a fresh project (tsconfig from `tsc --init`, and one with moduleResolution bundler), a correct
// program type-checks with 0 errors and runs against a real server, a wrong one fails naming the
// field, and nothing of the server (source, zod, drizzle, database drivers) comes along.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer } from "../helpers/http.ts";
import { createTestKey, useTestServices } from "../helpers/services.ts";

const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const TSC = join(ROOT, "node_modules/.bin/tsc");

const CORRECT = `import { createClient, describeError, type RouterInputs, type RouterOutputs } from "@scopegate/client";

// The project has no @types/node (tsc --init sets \`types: []\`); this is all it needs of Node.
declare const process: { env: Record<string, string | undefined> };

const sg = createClient({ url: process.env.SCOPEGATE_URL ?? "", apiKey: process.env.SCOPEGATE_API_KEY ?? "" });
const input: RouterInputs["summarizeDoc"] = {
  text: "Keys carry scopes. A key without the chat scope cannot chat. Every call is audited.",
  maxWords: 12,
};
const summary: RouterOutputs["summarizeDoc"] = await sg.summarizeDoc.mutate(input);
const whoami = await sg.keys.whoami.query();
const scopes: string[] = whoami.scopes;
let refusal: { reason: string; missingScopes: string[] | undefined } | null = null;
try {
  await sg.chat.mutate({ messages: [{ role: "user", content: "Hello" }] });
} catch (error) {
  const described = describeError(error);
  refusal = { reason: described.reason, missingScopes: described.missingScopes };
}
console.log(JSON.stringify({ summary: summary.summary, keyId: whoami.keyId, scopes, refusal }));
`;

// Each line is wrong in one field; the compiler must name that field.
const WRONG = `import { createClient } from "@scopegate/client";

const sg = createClient({ url: "http://127.0.0.1:3000", apiKey: "sg_live_example" });
await sg.summarizeDoc.mutate({ text: "Hello", maxWord: 10 });
await sg.keys.create.mutate({ scopes: ["endpoint:chat"] });
`;

// Packages of the server that must never reach a client install.
const SERVER_PACKAGES = [
  "zod",
  "drizzle-orm",
  "@electric-sql/pglite",
  "postgres",
  "openai",
  "prom-client",
  "esbuild",
  "tsx",
];

/** The text the correct program sends to summarizeDoc. */
const input = (program: string) => /text: "([^"]+)"/.exec(program)?.[1] ?? "";

let work: string;
let tarball: string;
let installed: string[];

async function tsc(project: string) {
  return exec(TSC, ["--noEmit", "--pretty", "false", "-p", project], { cwd: work }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
  );
}

/** A project directory with `program` as main.ts and tsconfig.json from `tsc --init`, edited by `edit`. */
async function project(name: string, program: string, edit: (config: string) => string = (c) => c) {
  const dir = join(work, name);
  mkdirSync(dir);
  await exec(TSC, ["--init"], { cwd: dir });
  const config = join(dir, "tsconfig.json");
  writeFileSync(config, edit(readFileSync(config, "utf8")));
  writeFileSync(join(dir, "main.ts"), program);
  return dir;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "scopegate-consumer-"));
  // `npm pack` runs the package's prepack, which builds dist/ (JS and declarations) from source.
  const { stdout } = await exec("npm", ["pack", "--json", "--pack-destination", work], {
    cwd: join(ROOT, "client"),
  });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  if (!packed) throw new Error("npm pack reported nothing");
  tarball = join(work, packed.filename);
  installed = packed.files.map((f) => f.path).sort();
  // tsc --init's defaults (module nodenext) read .ts files as ES modules only in a "type": "module" package.
  writeFileSync(
    join(work, "package.json"),
    JSON.stringify({ name: "consumer", private: true, type: "module" }),
  );
  await exec("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], { cwd: work });
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("@scopegate/client from its tarball", () => {
  it("ships compiled JS, bundled declarations, README and LICENSE, and no server source", () => {
    expect(installed).toEqual([
      "LICENSE",
      "README.md",
      "dist/app-router.d.ts",
      "dist/errors.d.ts",
      "dist/index.d.ts",
      "dist/index.js",
      "dist/limits.d.ts",
      "package.json",
    ]);
    const dist = join(work, "node_modules/@scopegate/client/dist");
    for (const file of readdirSync(dist)) {
      const text = readFileSync(join(dist, file), "utf8");
      const imports = [...text.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]);
      for (const specifier of imports)
        expect(specifier, file).toMatch(/^(?:@trpc\/(?:client|server)|\.\/[\w-]+\.js)$/);
      expect(text, file).not.toMatch(/server\/|\.\.\//);
    }
  });

  it("installs @trpc/client (and its peer @trpc/server) and none of the server's dependencies", () => {
    const manifest = JSON.parse(
      readFileSync(join(work, "node_modules/@scopegate/client/package.json"), "utf8"),
    );
    expect(manifest.dependencies).toEqual({ "@trpc/client": expect.any(String) });
    expect(Object.keys(manifest.peerDependencies ?? {})).toEqual(["@trpc/server"]);
    expect(manifest).toMatchObject({
      license: "MIT",
      description: expect.any(String),
      repository: expect.anything(),
    });
    const lock = JSON.parse(readFileSync(join(work, "package-lock.json"), "utf8")) as {
      packages: Record<string, unknown>;
    };
    const names = Object.keys(lock.packages).map((p) => p.replace(/^.*node_modules\//, ""));
    expect(names).toContain("@trpc/client");
    for (const name of SERVER_PACKAGES) expect(names).not.toContain(name);
  });

  it("type-checks a correct program with 0 errors: tsc --init defaults and moduleResolution bundler", async () => {
    const nodeNext = await project("nodenext", CORRECT);
    const bundler = await project("bundler", CORRECT, (config) =>
      config.replace(/"module": "nodenext",/, '"module": "preserve",\n    "moduleResolution": "bundler",'),
    );
    expect(readFileSync(join(bundler, "tsconfig.json"), "utf8")).toContain('"moduleResolution": "bundler"');
    for (const dir of [nodeNext, bundler]) {
      const result = await tsc(dir);
      expect(result.stdout, dir).toBe("");
      expect(result.code, dir).toBe(0);
    }
  }, 120_000);

  it("refuses a wrong program at compile time, naming the wrong field", async () => {
    const result = await tsc(await project("wrong", WRONG));
    expect(result.code).not.toBe(0);
    const errors = result.stdout.trim().split("\n");
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(
      /main\.ts\(4,\d+\): error TS\d+: .*'maxWord' does not exist.*Did you mean to write 'maxWords'\?/,
    );
    expect(errors[1]).toMatch(/main\.ts\(5,\d+\): error TS\d+: Property 'name' is missing/);
  }, 120_000);

  describe("against a live server", () => {
    const services = useTestServices();

    it("runs the correct program: typed calls answered, a refusal described with its reason", async () => {
      const dir = await project("run", CORRECT);
      await exec(TSC, ["-p", dir], { cwd: work });
      const server = await startTestServer(services());
      try {
        const key = await createTestKey(services(), { scopes: ["endpoint:summarize-doc"] });
        const { stdout } = await exec(process.execPath, [join(dir, "main.js")], {
          cwd: work,
          env: { PATH: process.env.PATH ?? "", SCOPEGATE_URL: server.url, SCOPEGATE_API_KEY: key.plaintext },
        });
        const result = JSON.parse(stdout) as Record<string, unknown>;
        expect(result).toMatchObject({
          keyId: key.keyId,
          scopes: ["endpoint:summarize-doc"],
          refusal: { reason: "missing_scope", missingScopes: ["endpoint:chat", "prompt-processing"] },
        });
        // The offline model's extractive summary: sentences of the input.
        expect(result.summary).toEqual(expect.stringMatching(/\S/));
        expect(input(CORRECT)).toContain(String(result.summary).split(".")[0]);
      } finally {
        await server.close();
      }
    }, 120_000);
  });
});
