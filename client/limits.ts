// Bounds the SDK and the server share. The server imports this module (the client package owns
// it), so the two cannot disagree and the client never pulls in server source.

/** The most calls one batch request may hold; the SDK splits larger batches, the server refuses them. */
export const MAX_BATCH_CALLS = 50;
