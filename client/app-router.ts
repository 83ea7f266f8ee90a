// The router type the SDK is typed against. In this repository it is the server's own; the
// published package replaces this module's declarations with the procedures' input and output
// types alone (scripts/build-client.mjs), so consumers need nothing of the server.
export type { AppRouter } from "../server/routers/app.ts";
