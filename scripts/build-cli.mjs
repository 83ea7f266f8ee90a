// Compiles the server and CLI (server/, db/) into dist/ with esbuild, so the `scopegate` bin runs
// plain JavaScript instead of loading TypeScript through tsx at every start.
import { readFile } from "node:fs/promises";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const OUT_DIR = resolve(ROOT, "dist");

/**
 * Modules find files beside their source (db/migrations, client/demo) through import.meta.url.
 * Bundled, every module would see the chunk's URL instead; this keeps each module's own URL,
 * expressed relative to the output directory so an installation can still be moved.
 */
const keepModuleUrls = {
  name: "keep-module-urls",
  setup(builder) {
    builder.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, "utf8");
      if (!source.includes("import.meta.url")) return { contents: source, loader: "ts" };
      const fromOut = relative(OUT_DIR, args.path).split("\\").join("/");
      const own = `new URL(${JSON.stringify(fromOut)}, import.meta.url).href`;
      return { contents: source.replaceAll("import.meta.url", own), loader: "ts" };
    });
  },
};

// Pure-ESM dependencies are bundled (one file to compile instead of hundreds: that is most of a
// command's start-up time); the rest load from node_modules as they are: PGlite finds its
// WebAssembly beside its own module, and CommonJS packages keep their own require().
const BUNDLED = new Set(["zod", "@trpc/client", "@trpc/server", "drizzle-orm"]);
const manifest = JSON.parse(await readFile(resolve(ROOT, "package.json"), "utf8"));
const EXTERNAL = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies })
  .filter((name) => !BUNDLED.has(name))
  .flatMap((name) => [name, `${name}/*`]);

/** Bundles the CLI entry into dist/cli.js; commands load their modules lazily as split chunks. */
export async function buildCli() {
  await build({
    absWorkingDir: ROOT,
    entryPoints: { cli: "server/cli/main.ts" },
    outdir: OUT_DIR,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    external: EXTERNAL,
    sourcemap: "linked",
    // Chunks sit beside cli.js: the URLs keepModuleUrls writes are relative to this directory.
    chunkNames: "[name]-[hash]",
    plugins: [keepModuleUrls],
    logLevel: "warning",
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli();
