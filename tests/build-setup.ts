// Tests run the `scopegate` bin, which executes dist/: compile the current sources first so no
// test exercises a stale build.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export default function setup() {
  const script = fileURLToPath(new URL("../scripts/build-cli.mjs", import.meta.url));
  execFileSync(process.execPath, [script], { stdio: "inherit" });
}
