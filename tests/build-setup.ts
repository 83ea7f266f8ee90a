// Tests run the `scopegate` bin, which executes dist/, and import the SDK's client/dist/index.js:
// compile the current sources first so no test exercises a stale build.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const script = (name: string) => fileURLToPath(new URL(`../scripts/${name}`, import.meta.url));

export default function setup() {
  execFileSync(process.execPath, [script("build-cli.mjs")], { stdio: "inherit" });
  // The declarations are tests/client/package.test.ts's business (npm pack builds them).
  execFileSync(process.execPath, [script("build-client.mjs"), "--js-only"], { stdio: "inherit" });
}
