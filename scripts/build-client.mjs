// Builds the @scopegate/client package in client/: dist/index.js (esbuild, ES module) and its
// declarations. The router's declarations are generated from the server's AppRouter as the
// procedures' input and output types alone (ctx, meta and every server module left out), so a
// consumer type-checks with @trpc/client and @trpc/server installed and nothing else.
//
// TypeScript 7 (the repository's compiler) has no JavaScript API, and walking the router's types
// needs one: the client workspace has TypeScript 5.9 as a dev dependency for this script only.
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const CLIENT = join(ROOT, "client");
const OUT = join(CLIENT, "dist");

async function buildJs() {
  await build({
    absWorkingDir: ROOT,
    entryPoints: [join(CLIENT, "index.ts")],
    outfile: join(OUT, "index.js"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    external: ["@trpc/client", "@trpc/server"],
    logLevel: "warning",
  });
}

/** The client workspace's TypeScript 5.9 (see above), or null when dev dependencies are absent. */
function loadTypeScript() {
  try {
    return createRequire(join(CLIENT, "package.json"))("typescript");
  } catch {
    return null;
  }
}

/** Declarations of the SDK's own modules (index, errors, limits), emitted as TypeScript writes them. */
function emitSdkDeclarations(ts, program) {
  const written = [];
  for (const name of ["index.ts", "errors.ts", "limits.ts"]) {
    const source = program.getSourceFile(join(CLIENT, name));
    // Relative imports are written `./errors.ts` in the sources; published declarations name the
    // files that exist beside them (TypeScript rewrites these in JavaScript, not in declarations).
    const writeDeclaration = (file, text) =>
      written.push([file, text.replace(/(from\s+["']\.\/[\w-]+)\.ts(["'])/g, "$1.js$2")]);
    const result = program.emit(source, writeDeclaration, undefined, true);
    const errors = result.diagnostics.filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length > 0) throw new Error(ts.formatDiagnostics(errors, formatHost(ts)));
  }
  return written;
}

function formatHost(ts) {
  return {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => ROOT,
    getNewLine: () => ts.sys.newLine,
  };
}

/**
 * Prints a type as a self-contained type expression: object types are spelled out member by
 * member (so no server interface is named), lib types (Date, AsyncGenerator, …) by name.
 * Anything that cannot cross the wire as JSON (functions, classes, type parameters) is an error.
 */
function typePrinter(ts, program) {
  const checker = program.getTypeChecker();
  // Interfaces of the standard library (Date, AsyncGenerator, …) keep their names; library type
  // aliases (Pick, Record, …) are spelled out like any other object type.
  const isLibInterface = (type) =>
    Boolean(type.symbol && type.symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class)) &&
    type.symbol.declarations.some((d) => program.isSourceFileDefaultLibrary(d.getSourceFile()));
  const key = (name) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));
  const stack = new Set();

  function print(type, path) {
    const f = type.flags;
    if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown | ts.TypeFlags.String | ts.TypeFlags.Number)) {
      return checker.typeToString(type);
    }
    if (
      f &
      (ts.TypeFlags.Boolean |
        ts.TypeFlags.BigInt |
        ts.TypeFlags.Undefined |
        ts.TypeFlags.Null |
        ts.TypeFlags.Void |
        ts.TypeFlags.Never |
        ts.TypeFlags.Literal |
        ts.TypeFlags.TemplateLiteral)
    ) {
      return checker.typeToString(type);
    }
    if (type.isUnion()) return type.types.map((t) => wrap(print(t, path))).join(" | ");
    if (type.isIntersection()) return type.types.map((t) => wrap(print(t, path))).join(" & ");
    if (!(f & ts.TypeFlags.Object)) throw new Error(`${path}: cannot print ${checker.typeToString(type)}`);
    if (stack.has(type)) throw new Error(`${path}: recursive type ${checker.typeToString(type)}`);
    stack.add(type);
    try {
      if (checker.isArrayType(type)) {
        const [element] = checker.getTypeArguments(type);
        const name = type.symbol?.name === "ReadonlyArray" ? "ReadonlyArray" : "Array";
        return `${name}<${print(element, `${path}[]`)}>`;
      }
      if (checker.isTupleType(type)) {
        return `[${checker
          .getTypeArguments(type)
          .map((t, i) => print(t, `${path}[${i}]`))
          .join(", ")}]`;
      }
      if (isLibInterface(type)) {
        const args = type.objectFlags & ts.ObjectFlags.Reference ? checker.getTypeArguments(type) : [];
        const printed = args.map((t, i) => print(t, `${path}<${i}>`));
        return printed.length > 0 ? `${type.symbol.name}<${printed.join(", ")}>` : type.symbol.name;
      }
      if (type.getCallSignatures().length > 0 || type.getConstructSignatures().length > 0) {
        throw new Error(`${path}: functions do not cross the wire (${checker.typeToString(type)})`);
      }
      const members = checker.getPropertiesOfType(type).map((property) => {
        const optional = property.flags & ts.SymbolFlags.Optional ? "?" : "";
        const propertyType = checker.getTypeOfSymbol(property);
        return `${key(property.name)}${optional}: ${print(propertyType, `${path}.${property.name}`)};`;
      });
      for (const info of checker.getIndexInfosOfType(type)) {
        members.push(`[key: ${checker.typeToString(info.keyType)}]: ${print(info.type, `${path}[]`)};`);
      }
      return members.length === 0 ? "{}" : `{ ${members.join(" ")} }`;
    } finally {
      stack.delete(type);
    }
  }
  const wrap = (text) => (/^[\w"'`{[-]/.test(text) && !text.includes(" | ") ? text : `(${text})`);
  return { checker, print };
}

/** app-router.d.ts: AppRouter rebuilt from the server's procedures' input and output types. */
function generateRouterDeclarations(ts, program) {
  const { checker, print } = typePrinter(ts, program);
  const source = program.getSourceFile(join(CLIENT, "app-router.ts"));
  const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(source));
  const routerSymbol = exported.find((s) => s.name === "AppRouter");
  if (!routerSymbol) throw new Error("client/app-router.ts exports no AppRouter");
  const router = checker.getDeclaredTypeOfSymbol(checker.getAliasedSymbol(routerSymbol));
  const prop = (type, name) => {
    const symbol = type.getProperty(name);
    if (!symbol) throw new Error(`no ${name} on ${checker.typeToString(type)}`);
    return checker.getTypeOfSymbol(symbol);
  };
  const def = prop(router, "_def");
  const errorShape = print(prop(prop(prop(def, "_config"), "$types"), "errorShape"), "errorShape");

  const procedureKinds = { query: "TRPCQueryProcedure", mutation: "TRPCMutationProcedure" };
  function record(type, path, depth) {
    const indent = "  ".repeat(depth);
    const lines = checker.getPropertiesOfType(type).map((member) => {
      const memberType = checker.getTypeOfSymbol(member);
      const memberPath = path ? `${path}.${member.name}` : member.name;
      const memberDef = memberType.getProperty("_def") && prop(memberType, "_def");
      if (memberDef?.getProperty("procedure")) {
        const kind = checker.typeToString(prop(memberDef, "type")).replaceAll('"', "");
        const wrapper = procedureKinds[kind];
        if (!wrapper) throw new Error(`${memberPath}: ${kind} procedures are not supported by the SDK`);
        const types = prop(memberDef, "$types");
        const input = print(prop(types, "input"), `${memberPath} input`);
        const output = print(prop(types, "output"), `${memberPath} output`);
        return `${indent}${member.name}: ${wrapper}<{ input: ${input}; output: ${output}; meta: object; errorShape: ErrorShape }>;`;
      }
      return `${indent}${member.name}: {\n${record(memberType, memberPath, depth + 1)}\n${indent}};`;
    });
    return lines.join("\n");
  }
  const procedures = record(prop(def, "record"), "", 1);
  return [
    "// Generated by scripts/build-client.mjs from the server's AppRouter: every procedure's input",
    "// and output types, spelled out, with none of the server's modules.",
    'import type { TRPCBuiltRouter, TRPCMutationProcedure, TRPCQueryProcedure } from "@trpc/server";',
    "",
    `type ErrorShape = ${errorShape};`,
    "",
    "export type AppRouter = TRPCBuiltRouter<",
    "  { ctx: object; meta: object; errorShape: ErrorShape; transformer: false },",
    "  {",
    procedures,
    "  }",
    ">;",
    "",
  ].join("\n");
}

async function buildDeclarations(ts) {
  const configPath = join(ROOT, "tsconfig.json");
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} },
  );
  const options = {
    ...parsed.options,
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    rewriteRelativeImportExtensions: true,
    rootDir: CLIENT,
    outDir: OUT,
  };
  const program = ts.createProgram([join(CLIENT, "index.ts")], options);
  const written = emitSdkDeclarations(ts, program);
  for (const [file, text] of written) await writeFile(file, text);
  await writeFile(join(OUT, "app-router.d.ts"), generateRouterDeclarations(ts, program));
}

/** `declarations`: "required" (npm pack), "optional" (skipped without dev dependencies), or "none". */
export async function buildClient({ declarations = "required" } = {}) {
  // Files are overwritten in place, never removed first: tests import client/dist while another
  // test packs the client.
  await mkdir(OUT, { recursive: true });
  await buildJs();
  if (declarations === "none") return;
  await copyFile(join(ROOT, "LICENSE"), join(CLIENT, "LICENSE"));
  const ts = loadTypeScript();
  if (!ts) {
    if (declarations === "required") {
      throw new Error("client declarations need the client workspace's dev dependencies (npm install)");
    }
    process.stderr.write("build-client: dev dependencies not installed; client/dist has no declarations\n");
    return;
  }
  await buildDeclarations(ts);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const declarations = process.argv.includes("--js-only")
    ? "none"
    : process.argv.includes("--optional-types")
      ? "optional"
      : "required";
  await buildClient({ declarations });
}
