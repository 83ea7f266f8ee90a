#!/usr/bin/env node
// Entry point of the `scopegate` bin: runs the CLI compiled into dist/ (`npm run build`; the
// package's `prepare` script builds it on install).
let cli;
try {
  cli = await import("../dist/cli.js");
} catch (error) {
  if (error?.code !== "ERR_MODULE_NOT_FOUND" || !String(error.message).includes("dist/cli.js")) throw error;
  process.stderr.write("scopegate: not built yet; run `npm run build` in the scopegate directory\n");
  process.exit(1);
}
const code = await cli.run(process.argv.slice(2), process.env);
// The command is done: exit once its output is flushed rather than wait for idle keep-alive
// sockets to the server to time out.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((r) => stream.write("", r))));
process.exit(code);
