// Builds the demo page's assets at build time (`npm run build:demo`, run by `prepare`): app.ts
// bundled for browsers with the SDK, next to the page's static files, in client/demo/dist/.
// The server only reads the result (server/http/demo-page.ts), so it never needs esbuild.
import { copyFileSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const SOURCES = fileURLToPath(new URL(".", import.meta.url));
export const DEFAULT_OUT_DIR = join(SOURCES, "dist");
// Served as these names by server/http/demo-page.ts.
const STATIC_FILES: Array<[source: string, built: string]> = [
  ["index.html", "index.html"],
  ["styles.css", "app.css"],
  ["favicon.svg", "favicon.svg"],
];

/** Builds into a fresh sibling directory and swaps it in, so a running build never leaves half a page. */
export async function buildDemoAssets(outDir = DEFAULT_OUT_DIR): Promise<string> {
  const staging = `${outDir}.building-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    // Type-only imports of the router leave no server code in the bundle (a test checks).
    await build({
      entryPoints: [join(SOURCES, "app.ts")],
      outfile: join(staging, "app.js"),
      bundle: true,
      format: "esm",
      platform: "browser",
      target: ["es2022"],
      minify: true,
      legalComments: "none",
      logLevel: "warning",
    });
    for (const [source, built] of STATIC_FILES) copyFileSync(join(SOURCES, source), join(staging, built));
    rmSync(outDir, { recursive: true, force: true });
    renameSync(staging, outDir);
    return outDir;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outDir = await buildDemoAssets(process.argv[2] ?? DEFAULT_OUT_DIR);
  console.log(`demo page built in ${outDir}`);
}
