// Text a caller asks us to store (key names and owners, end users, documents) must not carry a
// credential: a key kept in a row is a key leaked to every reader of that row, so it is refused.
import type { z } from "zod";
import { containsCredential } from "./redact.ts";

export const CREDENTIAL_REFUSED = "must not contain an API key or other credential";

/** A string schema that also refuses any credential shape the redactor knows. */
export function credentialFree<T extends z.ZodType<string>>(schema: T) {
  return schema.refine((text) => !containsCredential(text), { error: CREDENTIAL_REFUSED });
}
