// Public identifiers for requests and calls: prefixed, random, safe to log.
import { randomId } from "./random-ids.ts";

export const newRequestId = (): string => `req_${randomId(12, "base64url")}`;
export const newCallId = (): string => `call_${randomId(12, "base64url")}`;
