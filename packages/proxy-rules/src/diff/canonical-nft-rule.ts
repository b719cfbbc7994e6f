// An nftables rule's statements in one spelling, so that the rules compileNftables writes and the
// same rules listed back by `nft list ruleset` compare equal: nft lists `mark` as `meta mark`,
// `or`/`and`/`xor` as `|`/`&`/`^`, mark values as 8-digit hex (`0x00004000`, `0x00000000` for 0),
// a one-element anonymous set without braces (`ip daddr 10.96.0.0/16`), `, ` between elements, and
// adds `counter packets N bytes M` to rules that count. Elements of anonymous sets and verdict
// maps are sorted (their order has no meaning); counters are dropped.

import { formatAddr, parseAddr, parsePrefix } from "../trace/addr.js";

const OPERATORS: Readonly<Record<string, string>> = { or: "|", and: "&", xor: "^", eq: "==", ne: "!=" };

/** Words and strings of a rule; `{`, `}` and `,` as tokens of their own. */
function tokens(text: string): string[] {
  return text.match(/"(?:[^"\\]|\\.)*"|[{},]|[^\s{},"]+/g) ?? [];
}

function hex(v: string): string | undefined {
  const n = /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v.slice(2), 16) : /^\d+$/.test(v) ? Number(v) : Number.NaN;
  return Number.isSafeInteger(n) ? `0x${n.toString(16)}` : undefined;
}

function address(t: string): string {
  const c = t.charCodeAt(0);
  if (!((c >= 0x30 && c <= 0x39) || t.includes(":")) || t.includes("]")) return t;
  const a = parseAddr(t);
  if (a) return formatAddr(a);
  const p = t.includes("/") ? parsePrefix(t) : undefined;
  if (!p) return t;
  const net = p.family === 4 ? formatAddr({ family: 4, v: p.net }) : formatAddr({ family: 6, v: p.net });
  return p.bits === (p.family === 4 ? 32 : 128) ? net : `${net}/${p.bits}`;
}

/** Items in order of a leading number (a verdict map's `0 : …`, `1 : …`, `10 : …`), then as text. */
function byLeadingNumber(a: string, b: string): number {
  const x = /^\d+(?= |$)/.exec(a);
  const y = /^\d+(?= |$)/.exec(b);
  if (x && y && x[0] !== y[0]) return Number(x[0]) - Number(y[0]);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts the comma-separated items of every `{ … }` group and drops the braces of a one-word group. */
function groups(ts: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i] ?? "";
    if (t !== "{") {
      out.push(t);
      continue;
    }
    // the group's items, each a list of tokens (nested groups canonical first)
    let depth = 1;
    let j = i + 1;
    for (; j < ts.length && depth > 0; j++) {
      if (ts[j] === "{") depth++;
      else if (ts[j] === "}") depth--;
    }
    const inner = groups(ts.slice(i + 1, j - 1));
    const items: string[][] = [[]];
    let d = 0;
    for (const x of inner) {
      if (x === "{") d++;
      else if (x === "}") d--;
      if (x === "," && d === 0) items.push([]);
      else items[items.length - 1]?.push(x);
    }
    const texts = items.map((it) => it.join(" ")).filter((s) => s !== "");
    const previous = out[out.length - 1] ?? "";
    // `{ ip saddr }` after `update @set` / `add @set` is a key expression, not a set
    const keyExpression = previous.startsWith("@");
    if (texts.length === 1 && !keyExpression && !(texts[0] ?? "").includes(" ")) out.push(texts[0] ?? "");
    else out.push(`{ ${(keyExpression ? texts : texts.sort(byLeadingNumber)).join(", ")} }`);
    i = j - 1;
  }
  return out;
}

/**
 * The canonical form of an nftables rule's statements (the text after `add rule FAMILY TABLE
 * CHAIN`, or a rule line of `nft list`), for comparison.
 */
export function canonicalNftRule(text: string): string {
  const ts = tokens(text.replace(/\s+#\s*handle\s+\d+\s*$/, ""));
  const out: string[] = [];
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i] ?? "";
    if (t === "counter") {
      // a counter statement counts; it decides nothing
      if (ts[i + 1] === "packets") i += ts[i + 3] === "bytes" ? 4 : 2;
      continue;
    }
    if (t.startsWith('"')) {
      // quotes matter only around a comment (interface names are listed quoted, written either way)
      out.push(out[out.length - 1] === "comment" || !/^"[A-Za-z0-9_.@:+*-]+"$/.test(t) ? t : t.slice(1, -1));
      continue;
    }
    if (t === "mark" && out[out.length - 1] !== "meta" && out[out.length - 1] !== "ct") {
      out.push("meta", "mark");
      continue;
    }
    const op = OPERATORS[t];
    if (op) {
      out.push(op);
      continue;
    }
    // a mark value or mask: after `meta mark &|^` or the `==`/`!=` of a masked mark
    const prev = out[out.length - 1] ?? "";
    const masked = (prev === "==" || prev === "!=") && out[out.length - 3] === "&";
    if (prev === "&" || prev === "|" || prev === "^" || masked) {
      const h = hex(t);
      if (h) {
        out.push(h);
        continue;
      }
    }
    if (t === "reject" && ts[i + 1] === "with" && ts[i + 3]?.endsWith("port-unreachable")) {
      // the default reject of the ip and ip6 families, listed plain
      const type = ts[i + 2];
      if (type === "icmp" || type === "icmpv6" || type === "icmpx") {
        out.push("reject");
        i += 3;
        continue;
      }
    }
    if (t === "reject" && ts[i + 1] === "with" && ts[i + 3] === "type" && ts[i + 4] === "port-unreachable") {
      out.push("reject");
      i += 4;
      continue;
    }
    out.push(address(t));
  }
  return groups(out).join(" ");
}
