// The whole Drizzle schema, shared by the PGlite and postgres-js drivers.
export * from "./api-keys.ts";
export * from "./audit-log.ts";
export * from "./documents.ts";
export * from "./key-limits.ts";
