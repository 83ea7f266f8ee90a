// Rotating the audit keys, as the README's deployment guide describes: a new HMAC version
// listed before the old one (`2:<new>,1:<old>`), and a new signing key with the old public key
// kept in SCOPEGATE_AUDIT_VERIFY_KEYS. Records and checkpoints from before and after verify
// together; dropping either old key makes verification fail.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateSigningKeyText, parseSigningKey } from "../../server/audit/signing.ts";
import { verifyAudit } from "../../server/audit/verify.ts";
import { createTestServices, testAuditConfig, useTestServices } from "../helpers/services.ts";
import { auditTempDir, fillLog } from "./support.ts";

const services = useTestServices();

describe("audit key rotation", () => {
  it("keeps old records and checkpoints verifiable while the old keys are listed", async () => {
    const shared = services();
    const dir = auditTempDir();
    const oldHmac = { version: 1, key: randomBytes(32) };
    const newHmac = { version: 2, key: randomBytes(32) };
    const oldSigning = parseSigningKey(generateSigningKeyText());
    const newSigning = parseSigningKey(generateSigningKeyText());

    const before = await createTestServices({
      config: {
        auditKey: [oldHmac],
        audit: testAuditConfig({ dir, signingKey: oldSigning, verifyKeys: [oldSigning.publicKey] }),
      },
    });
    await fillLog(before, 4);
    await before.close();

    const after = await createTestServices({
      config: {
        auditKey: [newHmac, oldHmac],
        audit: testAuditConfig({
          dir,
          signingKey: newSigning,
          verifyKeys: [newSigning.publicKey, oldSigning.publicKey],
        }),
      },
    });
    await fillLog(after, 4);
    await after.close();

    const db = shared.database.db;
    const both = await verifyAudit(db, {
      auditKeys: [newHmac, oldHmac],
      publicKeys: [newSigning.publicKey, oldSigning.publicKey],
      dir,
    });
    expect(both.problems).toEqual([]);
    expect(both.ok).toBe(true);
    expect(both.chains).toBeGreaterThanOrEqual(2);

    const withoutOldHmac = await verifyAudit(db, {
      auditKeys: [newHmac],
      publicKeys: [newSigning.publicKey, oldSigning.publicKey],
      dir,
    });
    expect(withoutOldHmac.ok).toBe(false);
    const withoutOldSigning = await verifyAudit(db, {
      auditKeys: [newHmac, oldHmac],
      publicKeys: [newSigning.publicKey],
      dir,
    });
    expect(withoutOldSigning.ok).toBe(false);
  });
});
