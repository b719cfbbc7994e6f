// Every message, enum, field and enum value of the generated CRI code carries a doc comment
// (written in proto/runtime/v1/api.proto, carried over by ts-proto), so that editors and the API
// reference describe the whole API.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const file = fileURLToPath(new URL("../src/gen/runtime/v1/api.ts", import.meta.url));
/** The names the package exports (src/gen/messages.ts lists them; map-entry helpers are not among them). */
const published = new Set(
  [
    ...readFileSync(fileURLToPath(new URL("../src/gen/messages.ts", import.meta.url)), "utf8").matchAll(
      /^\s+(\w+),$/gm,
    ),
  ].map((m) => m[1]),
);

function undocumented(): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const text = source.getFullText();
  const hasDoc = (node: ts.Node) =>
    (ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []).some(
      (r) => text.startsWith("/**", r.pos) && text.slice(r.pos + 3, r.end - 2).replace(/[\s*]|@deprecated/g, "") !== "",
    );
  const exported = (node: ts.Node) =>
    ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  const missing: string[] = [];
  for (const node of source.statements) {
    if ((ts.isInterfaceDeclaration(node) || ts.isEnumDeclaration(node)) && !published.has(node.name.text)) continue;
    if (ts.isInterfaceDeclaration(node) && exported(node)) {
      const name = node.name.text;
      if (!hasDoc(node)) missing.push(name);
      for (const m of node.members) {
        if (ts.isPropertySignature(m) && !hasDoc(m)) missing.push(`${name}.${m.name.getText(source)}`);
      }
    } else if (ts.isEnumDeclaration(node) && exported(node)) {
      const name = node.name.text;
      if (!hasDoc(node)) missing.push(name);
      for (const m of node.members) {
        // ts-proto adds UNRECOGNIZED (-1) for values not in the schema
        if (m.name.getText(source) !== "UNRECOGNIZED" && !hasDoc(m)) missing.push(`${name}.${m.name.getText(source)}`);
      }
    }
  }
  return missing;
}

describe("generated CRI messages", () => {
  it("document every message, field, enum and enum value", () => {
    expect(published.size).toBeGreaterThan(180); // (the list was read)
    expect(undocumented()).toEqual([]);
  });
});
