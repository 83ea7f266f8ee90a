// Public identifiers for requests and calls: prefixed, random, safe to log.
import { randomBytes } from "node:crypto";

export const newRequestId = (): string => `req_${randomBytes(12).toString("base64url")}`;
export const newCallId = (): string => `call_${randomBytes(12).toString("base64url")}`;
