// Input shapes for key management.
import { z } from "zod";
import { END_USER_PATTERN, END_USER_RULE } from "../auth/end-user.ts";
import { KEY_ID_PATTERN } from "../auth/key-format.ts";
import { describeValidScopes, isKnownScope } from "../auth/scopes.ts";
import { credentialFree } from "../guard/credential-free.ts";

export const keyId = z.string().regex(KEY_ID_PATTERN, "a 12-character key id");
const endUserName = credentialFree(z.string().regex(END_USER_PATTERN, END_USER_RULE));
// An owner is often the end user a key is bound to: named alike.
export const ownerName = endUserName;
// Unknown or malformed scopes are bad input, refused before admission like any invalid field.
export const scopeList = z
  .array(
    z
      .string()
      .max(80)
      .refine(isKnownScope, {
        error: (issue) => `unknown scope ${JSON.stringify(issue.input)}; valid: ${describeValidScopes()}`,
      }),
  )
  .min(1)
  .max(64);
const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;

export const createKeyInput = z.strictObject({
  name: credentialFree(z.string().trim().min(1).max(64)),
  scopes: scopeList,
  owner: ownerName.optional(),
  ttlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).optional(),
  maxUses: z.number().int().min(1).max(1_000_000_000).optional(),
  rpm: z.number().int().min(1).max(1_000_000).optional(),
  dailyTokens: z.number().int().min(1).max(1_000_000_000_000).optional(),
  env: z.enum(["live", "test"]).default("live"),
  endUser: endUserName.optional(),
});
export type CreateKeyInput = z.infer<typeof createKeyInput>;

export const rotateKeyInput = z.strictObject({
  keyId,
  /** How long the old key keeps working; never past its own expiry. */
  graceSeconds: z
    .number()
    .int()
    .min(0)
    .max(30 * 24 * 3600)
    .default(600),
});

const limitValue = z.number().int().min(1);
export const setLimitsInput = z
  .strictObject({
    keyId,
    rpm: limitValue.max(1_000_000).nullable().optional(),
    dailyTokens: limitValue.max(1_000_000_000_000).nullable().optional(),
  })
  .refine((v) => v.rpm !== undefined || v.dailyTokens !== undefined, {
    message: "give rpm and/or dailyTokens",
  });
export type SetLimitsInput = z.infer<typeof setLimitsInput>;

export const DEFAULT_DERIVED_TTL_SECONDS = 300;
export const deriveKeyInput = z.strictObject({
  scopes: scopeList,
  ttlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).default(DEFAULT_DERIVED_TTL_SECONDS),
  maxUses: z.number().int().min(1).max(1_000_000_000).optional(),
  rpm: limitValue.max(1_000_000).optional(),
  dailyTokens: limitValue.max(1_000_000_000_000).optional(),
  endUser: endUserName.optional(),
});
export type DeriveKeyInput = z.infer<typeof deriveKeyInput>;
