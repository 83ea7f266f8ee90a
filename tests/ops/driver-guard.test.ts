// The driver crash guard swallows exactly the postgres-js lost-connection write, nothing else.
import { describe, expect, it } from "vitest";
import { isLostConnectionWrite } from "../../server/ops/driver-guard.ts";

function errorFrom(message: string, frame: string): Error {
  const error = new TypeError(message);
  error.stack = `TypeError: ${message}\n    at nextWrite (${frame})`;
  return error;
}

describe("isLostConnectionWrite", () => {
  it("recognises the driver's write to a closed socket", () => {
    expect(
      isLostConnectionWrite(
        errorFrom(
          "Cannot read properties of null (reading 'write')",
          "/app/node_modules/postgres/src/connection.js:255:22",
        ),
      ),
    ).toBe(true);
  });

  it("leaves every other error to crash the process", () => {
    expect(
      isLostConnectionWrite(
        errorFrom("Cannot read properties of null (reading 'write')", "/app/server/http/server.ts:10:3"),
      ),
    ).toBe(false);
    expect(
      isLostConnectionWrite(
        errorFrom(
          "Cannot read properties of null (reading 'end')",
          "/app/node_modules/postgres/src/connection.js:1:1",
        ),
      ),
    ).toBe(false);
    expect(isLostConnectionWrite(new RangeError("Cannot read properties of null (reading 'write')"))).toBe(
      false,
    );
  });
});
