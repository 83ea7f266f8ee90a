// The built-in tool names (each grants through the scope `tool:<name>`), shared by the input
// schema, the registry and the offline model.

export const SEARCH_DOCUMENTS = "search-documents";
export const PAYMENT_API = "external-payment-api";
export const TOOL_NAMES = [SEARCH_DOCUMENTS, PAYMENT_API] as const;
export type ToolName = (typeof TOOL_NAMES)[number];
