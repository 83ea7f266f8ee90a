// The demo page (bundled to /app.js by `npm run build:demo`): keeps the key in memory only, shows
// what it may do (keys.whoami), chats with streamed answers, summarizes the documents the key may
// read, explains refusals, and shows what the pipeline did for each call (audit.trace).
// Model output only ever reaches the DOM as text nodes (textContent/append), never as HTML.
import {
  createClient,
  describeError,
  type ErrorDescription,
  type RouterInputs,
  type RouterOutputs,
  type ScopegateClient,
} from "../index.ts";
import { explain, inWords, lookup, scopeMeaning } from "./explain.ts";
import { type CallOutcome, pipelineTrace, STEP_LABELS, type StepState, type TraceStep } from "./trace.ts";

const KEY_FORMAT = /^sg_(?:live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/;
const MAX_HISTORY = 49;

type ChatMessage = RouterInputs["chat"]["messages"][number];
type WhoAmI = RouterOutputs["keys"]["whoami"];
type DocumentEntry = RouterOutputs["documents"]["browse"][number];

function element<T extends HTMLElement>(id: string, type: { new (): T }): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`demo page: #${id} is missing`);
  return found;
}

const ui = {
  keyForm: element("key-form", HTMLFormElement),
  keyInput: element("key-input", HTMLInputElement),
  demoKeyButton: element("demo-key-button", HTMLButtonElement),
  forgetKeyButton: element("forget-key-button", HTMLButtonElement),
  keyStatus: element("key-status", HTMLDivElement),
  keyInfo: element("key-info", HTMLDivElement),
  keyFacts: element("key-facts", HTMLDListElement),
  keyScopes: element("key-scopes", HTMLUListElement),
  chatLog: element("chat-log", HTMLOListElement),
  chatForm: element("chat-form", HTMLFormElement),
  chatInput: element("chat-input", HTMLTextAreaElement),
  chatSend: element("chat-send", HTMLButtonElement),
  chatStop: element("chat-stop", HTMLButtonElement),
  chatClear: element("chat-clear", HTMLButtonElement),
  chatError: element("chat-error", HTMLDivElement),
  summarizeForm: element("summarize-form", HTMLFormElement),
  summarizeTextFields: element("summarize-text-fields", HTMLDivElement),
  summarizeDocumentFields: element("summarize-document-fields", HTMLDivElement),
  summarizeText: element("summarize-text", HTMLTextAreaElement),
  summarizeDocument: element("summarize-document", HTMLSelectElement),
  summarizeDocumentsStatus: element("summarize-documents-status", HTMLParagraphElement),
  summarizeWords: element("summarize-words", HTMLInputElement),
  summarizeSend: element("summarize-send", HTMLButtonElement),
  summaryText: element("summary-text", HTMLParagraphElement),
  summaryMeta: element("summary-meta", HTMLParagraphElement),
  summarizeError: element("summarize-error", HTMLDivElement),
  chatTrace: element("chat-trace", HTMLDivElement),
  summarizeTrace: element("summarize-trace", HTMLDivElement),
};

// The key lives only inside this client's closure: never in storage, cookies or the URL.
let client: ScopegateClient | null = null;
let keyId = "";
let history: ChatMessage[] = [];
let readable: DocumentEntry[] = [];
let chatAbort: AbortController | null = null;

function paragraph(text: string, className?: string): HTMLParagraphElement {
  const p = document.createElement("p");
  p.textContent = text;
  if (className) p.className = className;
  return p;
}

function refusalBox(error: ErrorDescription): DocumentFragment {
  const { title, lines } = explain(error);
  const fragment = document.createDocumentFragment();
  const strong = document.createElement("strong");
  strong.textContent = title;
  fragment.append(strong, ...lines.map((line) => paragraph(line)));
  return fragment;
}

function showRefusal(target: HTMLElement, error: unknown) {
  target.replaceChildren(refusalBox(describeError(error)));
  target.hidden = false;
}

function clearRefusal(target: HTMLElement) {
  target.replaceChildren();
  target.hidden = true;
}

function requireClient(target: HTMLElement): ScopegateClient | null {
  if (client) return client;
  showRefusal(target, { type: "error", code: "UNAUTHORIZED", reason: "missing_key" });
  return null;
}

// ---- what the pipeline did ----

const STATE_WORDS: Record<StepState, string> = {
  passed: "passed",
  failed: "stopped here",
  "not-reached": "not reached",
  pending: "pending",
};
const STATE_MARKS: Record<StepState, string> = { passed: "✓", failed: "✗", "not-reached": "–", pending: "…" };

function stepItem(step: TraceStep): HTMLLIElement {
  const item = document.createElement("li");
  item.dataset.step = step.step;
  item.dataset.state = step.state;
  if (step.recordIds) item.dataset.recordIds = step.recordIds.join(" ");
  const mark = document.createElement("span");
  mark.className = "step-mark";
  mark.setAttribute("aria-hidden", "true");
  mark.textContent = STATE_MARKS[step.state];
  const name = document.createElement("span");
  name.className = "step-name";
  name.textContent = STEP_LABELS[step.step];
  const state = document.createElement("span");
  state.className = "visually-hidden";
  state.textContent = ` (${STATE_WORDS[step.state]}): `;
  const detail = document.createElement("span");
  detail.className = "step-detail";
  detail.textContent = step.detail;
  item.append(mark, name, state, detail);
  return item;
}

function renderTrace(target: HTMLElement, steps: TraceStep[]) {
  const heading = document.createElement("h3");
  heading.textContent = "What the pipeline did";
  const list = document.createElement("ol");
  list.className = "pipeline";
  list.append(...steps.map(stepItem));
  target.replaceChildren(heading, list);
  target.hidden = false;
}

function clearTrace(target: HTMLElement) {
  delete target.dataset.requestId;
  target.replaceChildren();
  target.hidden = true;
}

/** Shows the call's trace from its answer at once, then completes it from its audit records. */
async function showTrace(target: HTMLElement, active: ScopegateClient, outcome: CallOutcome) {
  target.dataset.requestId = outcome.requestId;
  renderTrace(target, pipelineTrace(outcome, null));
  const records = await active.audit.trace
    .query({ requestId: outcome.requestId })
    .then((trace) => trace.records)
    .catch(() => []);
  // A newer call, or another key, has taken this panel over meanwhile.
  if (client !== active || target.dataset.requestId !== outcome.requestId) return;
  renderTrace(target, pipelineTrace(outcome, records));
}

/** The trace of a refused call; nothing when no request reached the server. */
function traceRefusal(target: HTMLElement, active: ScopegateClient, procedure: string, error: unknown) {
  const described = describeError(error);
  if (!described.requestId || described.reason === "aborted") {
    clearTrace(target);
    return;
  }
  void showTrace(target, active, {
    procedure,
    keyId,
    requestId: described.requestId,
    reason: described.reason,
    missingScopes: described.missingScopes,
    retryAfterMs: described.retryAfterMs,
    flags: described.flags,
  });
}

/** Whatever the previous key's calls left on the page; a new key starts clean. */
function clearCalls() {
  for (const target of [ui.chatError, ui.summarizeError]) clearRefusal(target);
  for (const target of [ui.chatTrace, ui.summarizeTrace]) clearTrace(target);
  ui.summaryText.textContent = "";
  ui.summaryMeta.textContent = "";
}

// ---- the key ----

const LIMIT_LABELS: Record<string, string> = {
  rpm: "Requests per minute",
  dailyTokens: "Model tokens per day",
  maxUses: "Uses in total",
  uses: "Uses so far",
  tokensToday: "Model tokens used today",
};

function formatValue(value: unknown): string {
  if (value === null || value === undefined) return "no limit";
  if (typeof value === "number") return value.toLocaleString();
  if (typeof value === "string" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

function fact(term: string, description: string | Node) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.append(description);
  ui.keyFacts.append(dt, dd);
}

/** A key id never breaks across lines (it is copied and compared whole). */
function keyIdCode(id: string): HTMLElement {
  const code = document.createElement("code");
  code.className = "key-id";
  code.textContent = id;
  return code;
}

function renderKeyInfo(info: WhoAmI) {
  ui.keyFacts.replaceChildren();
  fact("Key id", keyIdCode(info.keyId));
  fact("Name", info.name);
  fact("Owner", info.owner);
  if (info.expiresAt) {
    const expires = new Date(info.expiresAt);
    const left = expires.getTime() - Date.now();
    fact("Expires", `${expires.toLocaleString()} (${left > 0 ? inWords(left) : "already"})`);
  } else {
    fact("Expires", "never");
  }
  for (const [name, value] of Object.entries(info.limits))
    fact(lookup(LIMIT_LABELS, name) ?? name, formatValue(value));
  for (const [name, value] of Object.entries(info.usage))
    fact(lookup(LIMIT_LABELS, name) ?? name, formatValue(value));
  ui.keyScopes.replaceChildren(
    ...info.scopes.map((scope) => {
      const li = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = scope;
      li.append(code, ` — may ${scopeMeaning(scope)}`);
      return li;
    }),
  );
  if (info.scopes.length === 0) ui.keyScopes.append(paragraph("This key holds no scopes."));
  ui.keyInfo.hidden = false;
}

async function refreshKeyInfo() {
  if (!client) return;
  try {
    renderKeyInfo(await client.keys.whoami.query());
  } catch {
    // The call that just ran already explained its own outcome; the panel keeps its last state.
  }
}

async function useKey(key: string, label: string) {
  const candidate = createClient({ url: window.location.origin, apiKey: key });
  ui.keyStatus.textContent = "Checking the key…";
  try {
    const info = await candidate.keys.whoami.query();
    forgetKey();
    client = candidate;
    keyId = info.keyId;
    renderKeyInfo(info);
    const status = paragraph(`Using ${label} `);
    status.append(keyIdCode(info.keyId), ". It is kept in this page's memory only.");
    ui.keyStatus.replaceChildren(status);
    ui.forgetKeyButton.hidden = false;
    void loadDocuments(candidate);
  } catch (error) {
    forgetKey();
    ui.keyStatus.replaceChildren(refusalBox(describeError(error)));
  }
}

function forgetKey() {
  chatAbort?.abort();
  client = null;
  keyId = "";
  history = [];
  clearCalls();
  showDocuments([], "Use a key to see the documents it may read.");
  ui.chatLog.replaceChildren();
  ui.keyInfo.hidden = true;
  ui.keyFacts.replaceChildren();
  ui.keyScopes.replaceChildren();
  ui.forgetKeyButton.hidden = true;
  ui.keyStatus.textContent = "";
}

ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const key = ui.keyInput.value.trim();
  // Clear the field at once so the key is not left in the DOM.
  ui.keyInput.value = "";
  if (!KEY_FORMAT.test(key)) {
    forgetKey();
    ui.keyStatus.replaceChildren(
      refusalBox({
        code: "CLIENT_ERROR",
        reason: key === "" ? "missing_key" : "invalid_key",
        message: "",
        requestId: null,
        httpStatus: null,
      }),
    );
    return;
  }
  void useKey(key, "key");
});

ui.demoKeyButton.addEventListener("click", () => {
  void (async () => {
    ui.keyStatus.textContent = "Loading the demo key…";
    // Served only to a browser on the server's own machine, in embedded mode (see demo-page.ts).
    const response = await fetch("/demo-key", {
      headers: { "x-scopegate-demo": "1" },
      cache: "no-store",
      credentials: "omit",
    }).catch(() => null);
    const body: unknown = response?.ok ? await response.json().catch(() => null) : null;
    const key = typeof body === "object" && body !== null && "key" in body ? body.key : null;
    if (typeof key !== "string") {
      ui.keyStatus.replaceChildren(
        paragraph(
          "No demo key is available here. It is offered only by `scopegate serve` in embedded mode, to a browser on the same machine. Paste a key instead.",
        ),
      );
      return;
    }
    await useKey(key, "the demo key");
  })();
});

ui.forgetKeyButton.addEventListener("click", () => {
  forgetKey();
  ui.keyStatus.textContent = "The key was forgotten.";
  ui.keyInput.focus();
});

// ---- chat ----

function bubble(
  role: "user" | "assistant",
  text: string,
): { item: HTMLLIElement; text: HTMLParagraphElement } {
  const item = document.createElement("li");
  item.className = role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "Assistant";
  const body = paragraph(text, "text");
  item.append(who, body);
  ui.chatLog.append(item);
  return { item, text: body };
}

async function sendChat(active: ScopegateClient, content: string) {
  clearRefusal(ui.chatError);
  const turn: ChatMessage = { role: "user", content };
  const messages = [...history, turn].slice(-MAX_HISTORY);
  const asked = bubble("user", content);
  const answer = bubble("assistant", "");
  answer.item.setAttribute("aria-busy", "true");
  chatAbort = new AbortController();
  ui.chatSend.disabled = true;
  ui.chatStop.hidden = false;
  let deltas = 0;
  let text = "";
  try {
    const events = await active.chatStream.mutate({ messages }, { signal: chatAbort.signal });
    for await (const event of events) {
      if (event.type === "delta") {
        // A text node: whatever the model wrote is shown, never parsed as HTML.
        answer.text.append(event.text);
        text += event.text;
        deltas += 1;
        answer.item.dataset.deltas = String(deltas);
      } else if (event.type === "done") {
        history = [...messages, { role: "assistant", content: text }];
        answer.item.append(
          paragraph(`${event.usage.inputTokens} tokens in, ${event.usage.outputTokens} out`, "meta"),
        );
        answer.item.dataset.state = "done";
        void showTrace(ui.chatTrace, active, {
          procedure: "chatStream",
          keyId,
          requestId: event.requestId,
          reason: null,
        });
      } else {
        answer.item.dataset.state = "error";
        showRefusal(ui.chatError, event);
        traceRefusal(ui.chatTrace, active, "chatStream", event);
      }
    }
  } catch (error) {
    // Refused before the first event: nothing was answered, so the turn is not kept.
    answer.item.remove();
    asked.item.append(paragraph("Not sent — see below.", "meta"));
    showRefusal(ui.chatError, error);
    traceRefusal(ui.chatTrace, active, "chatStream", error);
  } finally {
    answer.item.removeAttribute("aria-busy");
    chatAbort = null;
    ui.chatSend.disabled = false;
    ui.chatStop.hidden = true;
    void refreshKeyInfo();
  }
}

ui.chatForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const active = requireClient(ui.chatError);
  const content = ui.chatInput.value.trim();
  if (!active || content === "" || chatAbort) return;
  ui.chatInput.value = "";
  void sendChat(active, content);
});

ui.chatInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    ui.chatForm.requestSubmit();
  }
});

ui.chatStop.addEventListener("click", () => chatAbort?.abort());

ui.chatClear.addEventListener("click", () => {
  chatAbort?.abort();
  history = [];
  ui.chatLog.replaceChildren();
  clearRefusal(ui.chatError);
  clearTrace(ui.chatTrace);
  ui.chatInput.focus();
});

// ---- summarize ----

function summarizeChoice(): "text" | "document" {
  const checked = ui.summarizeForm.querySelector<HTMLInputElement>('input[name="what"]:checked');
  return checked?.value === "document" ? "document" : "text";
}

ui.summarizeForm.addEventListener("change", () => {
  const choice = summarizeChoice();
  ui.summarizeTextFields.hidden = choice !== "text";
  ui.summarizeDocumentFields.hidden = choice !== "document";
});

function showDocuments(entries: DocumentEntry[], status: string) {
  readable = entries;
  ui.summarizeDocument.replaceChildren(
    ...entries.map((doc, index) => {
      const option = document.createElement("option");
      option.value = String(index);
      option.textContent = `${doc.title} (${doc.source})`;
      return option;
    }),
  );
  ui.summarizeDocument.disabled = entries.length === 0;
  ui.summarizeDocumentsStatus.textContent = status;
}

/** The picker offers what documents.browse lists: the documents of every source the key may read. */
async function loadDocuments(active: ScopegateClient) {
  ui.summarizeDocumentsStatus.textContent = "Looking up the documents this key may read…";
  let entries: DocumentEntry[] = [];
  let status: string;
  try {
    entries = await active.documents.browse.query({});
    const sources = [...new Set(entries.map((doc) => `db:${doc.source}`))];
    status =
      entries.length > 0
        ? `The documents this key may read (scope ${sources.join(", ")}).`
        : "This key may read no stored documents: each data source needs its scope db:<source>.";
  } catch (error) {
    status = explain(describeError(error)).title;
  }
  if (client === active) showDocuments(entries, status);
}

function summarizeInput(): RouterInputs["summarizeDoc"] | null {
  if (summarizeChoice() === "text") return { text: ui.summarizeText.value };
  const picked = readable[Number.parseInt(ui.summarizeDocument.value, 10)];
  return picked ? { document: { source: picked.source, id: picked.id } } : null;
}

async function summarize(active: ScopegateClient) {
  const maxWords = Number.parseInt(ui.summarizeWords.value, 10);
  const input = summarizeInput();
  clearRefusal(ui.summarizeError);
  if (!input) {
    clearTrace(ui.summarizeTrace);
    ui.summarizeError.replaceChildren(paragraph("Pick a document first, or paste a text to summarize."));
    ui.summarizeError.hidden = false;
    return;
  }
  if (Number.isFinite(maxWords)) input.maxWords = maxWords;
  ui.summarizeSend.disabled = true;
  ui.summaryText.textContent = "";
  ui.summaryMeta.textContent = "Summarizing…";
  try {
    const result = await active.summarizeDoc.mutate(input);
    ui.summaryText.textContent = result.summary;
    ui.summaryMeta.textContent = `${result.model} · ${result.usage.inputTokens} tokens in, ${result.usage.outputTokens} out`;
    void showTrace(ui.summarizeTrace, active, {
      procedure: "summarizeDoc",
      keyId,
      requestId: result.requestId,
      reason: null,
      flags: result.flags,
    });
  } catch (error) {
    ui.summaryMeta.textContent = "";
    showRefusal(ui.summarizeError, error);
    traceRefusal(ui.summarizeTrace, active, "summarizeDoc", error);
  } finally {
    ui.summarizeSend.disabled = false;
    void refreshKeyInfo();
  }
}

ui.summarizeForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const active = requireClient(ui.summarizeError);
  if (active) void summarize(active);
});
