// The `external-payment-api` tool: a payment's status by GET at PAYMENT_API_URL. The id is
// schema-checked, URL-encoded into a path under the configured base and the result must stay on
// that origin; no redirects, a timeout and a response size cap. The answer is untrusted data
// (screened as JSON and spotlighted by the tool loop).
import { z } from "zod";
import { linkedAbort } from "../abort.ts";
import { prompt } from "../guard/untrusted.ts";
import { PAYMENT_API } from "./names.ts";
import type { Tool } from "./tool.ts";
import { ToolFailure } from "./tool-failure.ts";

export const PAYMENT_ID_PATTERN = /^pay_[A-Za-z0-9]{1,64}$/;
const args = z.strictObject({ paymentId: z.string().regex(PAYMENT_ID_PATTERN) });

const TIMEOUT_MS = 5000;
const MAX_RESPONSE_BYTES = 64 * 1024;

/** `<base>/payments/<id>`, refused unless it stays on the base's origin and under its path. */
export function paymentUrl(baseUrl: string, paymentId: string): URL {
  const base = new URL(baseUrl);
  if (!base.pathname.endsWith("/")) base.pathname = `${base.pathname}/`;
  base.search = "";
  base.hash = "";
  const target = new URL(`payments/${encodeURIComponent(paymentId)}`, base);
  if (target.origin !== base.origin || !target.pathname.startsWith(base.pathname)) {
    throw new ToolFailure(prompt`the payment URL would leave the configured base`);
  }
  return target;
}

async function readCapped(response: Response): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > MAX_RESPONSE_BYTES) throw new ToolFailure(prompt`the payment API answer is too large`);
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new ToolFailure(prompt`the payment API answer is too large`);
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

export function paymentApiTool(baseUrl: string | undefined): Tool<z.infer<typeof args>> {
  return {
    name: PAYMENT_API,
    description: "Look up the status of one payment by its id (pay_…).",
    args,
    external: true,
    async execute({ paymentId }, { principal, signal }) {
      if (!baseUrl) throw new ToolFailure(prompt`the payment API is not configured on this server`);
      const url = paymentUrl(baseUrl, paymentId);
      // The payment service scopes its answer to the key's tenant and the end user.
      const headers: Record<string, string> = {
        accept: "application/json",
        "x-scopegate-key-owner": principal.owner,
      };
      if (principal.endUser) headers["x-scopegate-end-user"] = principal.endUser;
      // The timeout covers the answer's body too; the call's own signal still ends it first.
      const abort = linkedAbort([signal], TIMEOUT_MS);
      try {
        let response: Response;
        try {
          response = await fetch(url, { method: "GET", headers, redirect: "manual", signal: abort.signal });
        } catch (cause) {
          if (signal.aborted) throw cause;
          throw new ToolFailure(prompt`the payment API did not answer`);
        }
        if (response.status >= 300 && response.status < 400) {
          await response.body?.cancel();
          throw new ToolFailure(prompt`the payment API answered with a redirect, which is not followed`);
        }
        const body = await readCapped(response);
        if (!response.ok) throw new ToolFailure(prompt`the payment API answered ${response.status}`);
        return body;
      } finally {
        abort.dispose();
      }
    },
  };
}
