#!/usr/bin/env node
// Entry point of the `scopegate` bin: loads the TypeScript sources through tsx and runs the CLI.
import { register } from "tsx/esm/api";

register();
const { run } = await import("../server/cli/main.ts");
const code = await run(process.argv.slice(2), process.env);
process.exitCode = code;
