// Label and field selectors as list and watch take them (`labelSelector=app=web,tier!=db`,
// `fieldSelector=spec.nodeName=node-1`), parsed once per request into a predicate.

import { defined } from "../defined.js";
import { badRequest } from "./status.js";

type LabelRequirement =
  | { op: "exists" | "notexists"; key: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "gt" | "lt"; key: string; value: number };

/** Splits at commas that are not inside parentheses (set-based requirements hold their own commas). */
function splitTopLevel(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

function parseLabelRequirement(text: string): LabelRequirement {
  const set = /^([^\s!=<>(),]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(text);
  if (set) {
    const values = defined(set[3])
      .split(",")
      .map((v) => v.trim());
    return { op: set[2] === "in" ? "in" : "notin", key: defined(set[1]), values };
  }
  const cmp = /^([^\s!=<>(),]+)\s*(==|=|!=|>|<)\s*([^\s!=<>(),]*)$/.exec(text);
  if (cmp) {
    const [, key, op, value] = cmp as unknown as [string, string, string, string];
    if (op === ">" || op === "<") {
      const n = Number(value);
      if (!Number.isInteger(n))
        throw badRequest(`unable to parse requirement: for 'gt', 'lt' operators, the value must be an integer`);
      return { op: op === ">" ? "gt" : "lt", key, value: n };
    }
    return { op: op === "!=" ? "notin" : "in", key, values: [value] };
  }
  const exists = /^(!?)([^\s!=<>(),]+)$/.exec(text);
  if (exists) return { op: exists[1] ? "notexists" : "exists", key: defined(exists[2]) };
  throw badRequest(
    `unable to parse requirement: found '${text}', expected: key, !key, key=value, key!=value, key in (...), key notin (...)`,
  );
}

function satisfies(r: LabelRequirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const value = labels[r.key];
  switch (r.op) {
    case "exists":
      return has;
    case "notexists":
      return !has;
    case "in":
      return has && r.values.includes(defined(value));
    case "notin":
      return !has || !r.values.includes(defined(value));
    case "gt":
      return has && Number(value) > r.value;
    case "lt":
      return has && Number(value) < r.value;
  }
}

/** A label selector as a predicate over an object's labels; `undefined`/empty matches everything. */
export function parseLabelSelector(selector: string | undefined): (labels: Record<string, string>) => boolean {
  const requirements = splitTopLevel(selector ?? "").map(parseLabelRequirement);
  return (labels) => requirements.every((r) => satisfies(r, labels));
}

interface FieldRequirement {
  field: string;
  value: string;
  equal: boolean;
}

/** Field selector values escape `\`, `,` and `=` with a backslash. */
function unescapeFieldValue(value: string): string {
  return value.replace(/\\(.)/g, "$1");
}

function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < text.length; i++) {
    const ch = defined(text[i]);
    if (ch === "\\" && i + 1 < text.length) {
      current += ch + text[i + 1];
      i++;
    } else if (ch === separator) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/**
 * A field selector as a predicate over the fields a resource exposes (`fields(object)`); a field the
 * resource does not expose is a 400, as kube-apiserver answers `field label not supported`.
 */
export function parseFieldSelector(
  selector: string | undefined,
  supported: readonly string[],
): (fields: Record<string, string>) => boolean {
  const requirements: FieldRequirement[] = [];
  for (const term of splitUnescaped(selector ?? "", ",")) {
    if (term.trim() === "") continue;
    const m = /^([^!=]+)(==|!=|=)(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    const field = defined(m[1]).trim();
    if (!supported.includes(field)) throw badRequest(`field label not supported: ${field}`);
    requirements.push({ field, value: unescapeFieldValue(defined(m[3])), equal: m[2] !== "!=" });
  }
  return (fields) => requirements.every((r) => (fields[r.field] === r.value) === r.equal);
}
