// Rendering of the structured form into iptables-restore syntax, byte for byte as kube-proxy
// writes it: `-A CHAIN args…`, comment values quoted when they contain blanks.

import type { IptablesChain, IptablesRule, IptablesTable } from "./ir.js";

/** Longest comment the kernel's xt_comment match stores (256 bytes with the NUL). */
const MAX_COMMENT = 255;

/** Printable ASCII without blanks, quotes and backslash: a comment written as it is. */
export function isPlainToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // printable ASCII without blank, quotes and backslash
    if (c <= 0x20 || c >= 0x7f || c === 0x22 || c === 0x27 || c === 0x5c) return false;
  }
  return true;
}

/** Printable ASCII (blanks included) without quotes and backslash: safe between double quotes. */
export function isQuotable(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/**
 * Makes a comment value safe for iptables-restore: printable ASCII only (anything else, including
 * quotes, backslashes and line breaks, becomes `?`), at most 255 characters, double-quoted when it
 * is not a plain token. Valid Kubernetes names never need the replacement; it is a second line of
 * defence against rule injection.
 */
export function quoteComment(s: string): string {
  if (isPlainToken(s) && s.length <= MAX_COMMENT) return s;
  if (s.length <= MAX_COMMENT && isQuotable(s)) return `"${s}"`;
  let safe = "";
  for (let i = 0; i < s.length && safe.length < MAX_COMMENT; i++) {
    const c = s.charCodeAt(i);
    safe += c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c ? "?" : s[i];
  }
  return `"${safe}"`;
}

/** Renders one rule as a restore line, without the line break. */
export function renderRule(chain: string, rule: IptablesRule): string {
  return rule.text === "" ? `-A ${chain}` : `-A ${chain} ${rule.text}`;
}

/** Splits restore-syntax arguments into argv tokens (double-quoted values are one token). */
export function parseArgs(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    while (i < n && text.charCodeAt(i) === 0x20) i++;
    if (i >= n) break;
    if (text.charCodeAt(i) === 0x22) {
      const end = text.indexOf('"', i + 1);
      const stop = end < 0 ? n : end;
      out.push(text.slice(i + 1, stop));
      i = stop + 1;
    } else {
      let j = i;
      while (j < n && text.charCodeAt(j) !== 0x20) j++;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out;
}

/** `:NAME - [0:0]\n` */
export function chainLine(name: string): string {
  return `:${name} - [0:0]\n`;
}

/** All rule lines of the chains, each with its line break. */
export function renderChainRules(chains: readonly IptablesChain[]): string {
  let out = "";
  for (const c of chains) out += c.text;
  return out;
}

/** Renders one table (`*name`, chain lines, rules, `-X` lines, `COMMIT`). */
export function renderTable(table: IptablesTable): string {
  let out = `*${table.name}\n`;
  for (const c of table.chains) out += chainLine(c.name);
  for (const name of table.deletedChains) out += chainLine(name);
  out += renderChainRules(table.chains);
  for (const name of table.deletedChains) out += `-X ${name}\n`;
  return `${out}COMMIT\n`;
}
