// A tool's refusal or failure whose message is safe to show the model and the caller (unlike
// arbitrary errors, which may carry internals): it is prompt text of our own making.
import type { PromptText } from "../guard/untrusted.ts";

export class ToolFailure extends Error {
  constructor(readonly detail: PromptText) {
    super(detail);
  }
}
