// The operator-facing names of database failures, for the causes the local server cannot
// produce (it trusts 127.0.0.1, so no password can fail there): the driver's error shapes as
// postgres-js and drizzle deliver them, wrapped or not, and never the URL's password.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { explainDatabaseError } from "../../db/connection-errors.ts";
import { isDatabaseUnavailable } from "../../server/db-errors.ts";

/** drizzle's wrapper around a driver error: "Failed query: …" with the driver error as cause. */
const wrapped = (cause: Error) =>
  new Error("Failed query: select to_regclass('drizzle.__drizzle_migrations')", { cause });
const driverError = (code: string, message: string) => Object.assign(new Error(message), { code });

const CASES = [
  {
    code: "28P01",
    message: 'password authentication failed for user "app"',
    reason: "authentication_failed",
    says: 'password authentication failed for user "app"',
  },
  {
    code: "28000",
    message: 'no pg_hba.conf entry for host "10.0.0.9"',
    reason: "authentication_failed",
    says: 'authentication failed for user "app"',
  },
  {
    code: "28000",
    message: 'role "app" does not exist',
    reason: "role_not_found",
    says: 'role "app" does not exist',
  },
  {
    code: "3D000",
    message: 'database "shop" does not exist',
    reason: "database_not_found",
    says: 'database "shop" does not exist',
  },
  {
    code: "ECONNREFUSED",
    message: "connect ECONNREFUSED",
    reason: "connection_refused",
    says: "db.internal:6543: connection refused",
  },
  {
    code: "ENOTFOUND",
    message: "getaddrinfo ENOTFOUND",
    reason: "host_not_found",
    says: 'host "db.internal" not found',
  },
  {
    code: "CONNECT_TIMEOUT",
    message: "write CONNECT_TIMEOUT",
    reason: "connection_timeout",
    says: "no answer",
  },
  {
    code: "57P03",
    message: "the database system is starting up",
    reason: "unreachable",
    says: "starting up",
  },
] as const;

describe("database failure names", () => {
  it("says which cause, at which server, directly or through drizzle's wrapper", () => {
    const url = "postgres://app:s3cret@db.internal:6543/shop";
    for (const c of CASES) {
      for (const error of [driverError(c.code, c.message), wrapped(driverError(c.code, c.message))]) {
        const explained = explainDatabaseError(error, url);
        expect(explained?.reason, c.code).toBe(c.reason);
        expect(explained?.message, c.code).toContain(c.says);
        expect(explained?.message).not.toContain("Failed query");
      }
    }
  });

  it("leaves errors that are not about reaching the database alone", () => {
    // 23505 unique_violation: a bug or a race, not an operator's setup problem.
    expect(
      explainDatabaseError(wrapped(driverError("23505", "duplicate key")), "postgres://h/db"),
    ).toBeNull();
    expect(explainDatabaseError(new Error("boom"), "postgres://h/db")).toBeNull();
  });

  it("never repeats the password of the URL", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/),
        // A "!" no message holds, so a match can only be the password itself.
        fc.stringMatching(/^[A-Za-z0-9*~-]{4,20}$/).map((p) => `!${p}`),
        fc.constantFrom(...CASES),
        (user, password, c) => {
          const url = `postgres://${user}:${encodeURIComponent(password)}@db.internal:5432/shop`;
          const explained = explainDatabaseError(wrapped(driverError(c.code, c.message)), url);
          expect(explained?.message).not.toContain(password);
        },
      ),
    );
  });
});

describe("a database the server cannot reach", () => {
  it("is refused as unavailable (503) for every cause the operator is told is about reaching it", () => {
    // Every code whose explanation says the server could not be reached must also fail a request
    // closed with `unavailable`, never a 500: the two lists are checked against each other.
    const REACHING = new Set(["connection_refused", "host_not_found", "connection_timeout", "unreachable"]);
    const codes = [
      "ECONNREFUSED",
      "ECONNRESET",
      "ENOTFOUND",
      "EAI_AGAIN",
      "ETIMEDOUT",
      "EHOSTUNREACH",
      "CONNECT_TIMEOUT",
      "CONNECTION_CLOSED",
      "57P03",
      "08000",
      "08001",
      "08003",
      "08006",
      "28P01",
      "3D000",
      "23505",
    ];
    let reaching = 0;
    for (const code of codes) {
      for (const error of [
        driverError(code, `failure ${code}`),
        wrapped(driverError(code, `failure ${code}`)),
      ]) {
        const explained = explainDatabaseError(error, "postgres://h/db");
        if (explained && REACHING.has(explained.reason)) {
          reaching += 1;
          expect(isDatabaseUnavailable(error), code).toBe(true);
        }
      }
    }
    expect(reaching).toBeGreaterThanOrEqual(24);
  });
});
