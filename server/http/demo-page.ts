// The demo page's routes for `scopegate serve` (through createHttpServer's extraRoutes): `/`,
// `/app.js`, `/app.css` and `/favicon.svg` from the assets `npm run build:demo` built, and `/demo-key`.
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { BlockList, isIP } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Services } from "../context.ts";
import { errorEnvelope } from "./envelope.ts";

// `default-src 'self'` is the design's policy; the rest closes what default-src does not cover.
// form-action 'none' also keeps a key out of a URL should the form ever submit without script.
export const DEMO_PAGE_CSP =
  "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

const PAGE_HEADERS: Record<string, string> = {
  "content-security-policy": DEMO_PAGE_CSP,
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
};

/** Request header the page sends for /demo-key: not CORS-safelisted, so other origins need a preflight we never grant. */
export const DEMO_KEY_HEADER = "x-scopegate-demo";
const LOOPBACK_HOST = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d{1,5})?$/i;
const PROXY_HEADERS = ["x-forwarded-for", "forwarded", "x-real-ip"];
const KEY_ID = /^sg_(?:live|test)_([0-9A-Za-z]{12})_/;

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

export interface DemoPageOptions {
  /** `<dataDir>/demo-key` in embedded mode; null (the default) never serves a key. */
  demoKeyPath?: string | null;
  /** Where the built assets are; default `client/demo/dist` of this package. */
  assetsDir?: string;
}

interface Asset {
  type: string;
  body: Buffer;
}

export interface DemoPage {
  /** For createHttpServer's `extraRoutes`: answers and returns true for the page's paths. */
  handle(req: IncomingMessage, res: ServerResponse, requestId: string): boolean;
}

// The built files, by the path they are served at (client/demo/build.ts writes these names).
const ASSET_FILES: Array<[path: string, file: string, type: string]> = [
  ["/", "index.html", "text/html; charset=utf-8"],
  ["/index.html", "index.html", "text/html; charset=utf-8"],
  ["/app.js", "app.js", "text/javascript; charset=utf-8"],
  ["/app.css", "app.css", "text/css; charset=utf-8"],
  ["/favicon.svg", "favicon.svg", "image/svg+xml"],
];

/**
 * This package's root: the nearest directory above this module with the scopegate package.json,
 * so the assets are found whether this file runs from source or from compiled output.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).name === "scopegate") return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error("demo page: the scopegate package root was not found");
    dir = parent;
  }
}

export function defaultAssetsDir(): string {
  return join(packageRoot(), "client", "demo", "dist");
}

/** Reads the built page; a missing file stops start-up with the command that builds it. */
async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const [path, file, type] of ASSET_FILES) {
    const body = await readFile(join(dir, file)).catch(() => {
      throw new Error(
        `demo page assets are missing (${join(dir, file)}): run \`npm run build:demo\` (npm install runs it too)`,
      );
    });
    assets.set(path, { type, body });
  }
  return assets;
}

export async function createDemoPage(services: Services, options: DemoPageOptions = {}): Promise<DemoPage> {
  const assets = await loadAssets(options.assetsDir ?? defaultAssetsDir());
  const demoKeyPath = options.demoKeyPath ?? null;

  return {
    handle(req, res, requestId) {
      const path = new URL(req.url ?? "/", "http://localhost").pathname;
      if (req.method !== "GET" && req.method !== "HEAD") return false;
      const asset = assets.get(path);
      if (asset) {
        res.writeHead(200, {
          ...PAGE_HEADERS,
          "content-type": asset.type,
          "content-length": asset.body.length,
        });
        res.end(req.method === "HEAD" ? undefined : asset.body);
        return true;
      }
      if (path === "/demo-key" && demoKeyPath && mayReceiveDemoKey(req)) {
        const key = readDemoKey(demoKeyPath);
        if (!key) return false;
        void handOut(services, res, requestId, key, req.socket.remoteAddress ?? "unknown");
        return true;
      }
      // Everything else (including a refused /demo-key) gets the server's audited 404.
      return false;
    },
  };
}

/**
 * Only a browser tab on this machine gets the demo key: the TCP peer is loopback and no proxy
 * headers are present (a local reverse proxy would make remote callers look local), the Host
 * is a loopback name (defeats DNS rebinding), the custom header is set (cross-origin pages
 * would need a preflight we never grant), and a browser's Sec-Fetch-Site, if sent, is same-origin.
 */
export function mayReceiveDemoKey(req: IncomingMessage): boolean {
  if (!isLoopback(req.socket.remoteAddress)) return false;
  if (PROXY_HEADERS.some((name) => req.headers[name] !== undefined)) return false;
  if (!LOOPBACK_HOST.test(req.headers.host ?? "")) return false;
  if (req.headers[DEMO_KEY_HEADER] !== "1") return false;
  const site = req.headers["sec-fetch-site"];
  return site === undefined || site === "same-origin";
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith("::ffff:") ? address.slice("::ffff:".length) : address;
  const family = isIP(plain);
  if (family === 0) return false;
  return loopback.check(plain, family === 4 ? "ipv4" : "ipv6");
}

function readDemoKey(path: string): string | null {
  try {
    const key = readFileSync(path, "utf8").trim();
    return KEY_ID.test(key) ? key : null;
  } catch {
    return null;
  }
}

/** Records who received the demo key (its id, never the key) before answering. */
async function handOut(
  services: Services,
  res: ServerResponse,
  requestId: string,
  key: string,
  peer: string,
) {
  try {
    await services.audit.append({
      phase: "event",
      requestId,
      keyId: KEY_ID.exec(key)?.[1] ?? null,
      procedure: "demo-key",
      outcome: "ok",
      clientAddress: peer,
    });
  } catch (error) {
    // Fail closed: no audit record, no key.
    services.logger.error("audit write failed; demo key withheld", { requestId, error });
    const body = errorEnvelope(
      { status: 503, code: "SERVICE_UNAVAILABLE", reason: "unavailable", message: "Try again shortly." },
      requestId,
    );
    res.writeHead(503, { "content-type": "application/json" }).end(body);
    return;
  }
  const body = JSON.stringify({ key });
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
