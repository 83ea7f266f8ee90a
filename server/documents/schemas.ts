// Input shapes shared by every procedure that addresses a document.
import { z } from "zod";
import { RESOURCE_NAME_PATTERN } from "../auth/scopes.ts";

export const sourceName = z
  .string()
  .regex(RESOURCE_NAME_PATTERN, "a data-source name: ^[a-z0-9][a-z0-9-]{0,63}$");

export const documentRef = z.strictObject({ source: sourceName, id: z.uuid() });
export type DocumentRef = z.infer<typeof documentRef>;
