// Every conditional skip in the suite goes through here and names its reason, so a CI run cannot
// pass with part of the suite silently left out (tests/architecture/skips.test.ts holds every
// test file to that). Two reasons exist:
// - otherDatabase: the test is about the database this run does not use; the other half of CI
//   runs it (.ci/run runs the suite on PGlite, then on PostgreSQL). Skipped everywhere.
// - missingPrerequisite: the machine lacks something the test needs (a browser, root, the
//   PostgreSQL server binaries, a network interface). Skipped on a developer's machine; under CI
//   (CI=true, exported by .ci/run) the suite is still skipped but a test named after the
//   prerequisite fails in its place, so the run fails and says what to install.
import { it } from "vitest";

export type Database = "postgres" | "pglite";

/** The database this run uses: DATABASE_URL set means PostgreSQL (tests/global-setup.ts). */
export const runDatabase: Database = process.env.DATABASE_URL === undefined ? "pglite" : "postgres";

/** For `describe.skipIf`/`it.skipIf`: true when the test belongs to the other database's run. */
export function otherDatabase(testedOn: Database): boolean {
  return testedOn !== runDatabase;
}

/** Whether this is a CI run, where a missing prerequisite fails instead of skipping. */
export function underCi(env: Record<string, string | undefined> = process.env): boolean {
  return env.CI === "true" || env.CI === "1";
}

/**
 * For `describe.skipIf`/`it.skipIf`: `missing` says what is absent (null: present, run the test).
 * Call it where the skipped test is declared, so the failing stand-in under CI sits beside it.
 */
export function missingPrerequisite(prerequisite: string, missing: string | null): boolean {
  if (missing === null) return false;
  if (underCi()) {
    it(`has its prerequisite: ${prerequisite}`, () => {
      throw new Error(`missing prerequisite under CI (a skip would hide the tests that need it): ${missing}`);
    });
  }
  return true;
}
