// The application router; its type is what the client SDK imports.
import { router } from "../trpc.ts";
import { aiProcedures } from "./ai.ts";
import { auditRouter } from "./audit.ts";
import { documentsRouter } from "./documents.ts";
import { keysRouter } from "./keys.ts";

export const appRouter = router({
  ...aiProcedures,
  keys: keysRouter,
  documents: documentsRouter,
  audit: auditRouter,
});

export type AppRouter = typeof appRouter;
