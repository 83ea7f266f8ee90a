// A tool's refusal or failure whose message is safe to show the model and the caller (unlike
// arbitrary errors, which may carry internals).

export class ToolFailure extends Error {}
