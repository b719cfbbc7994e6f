// The one way explainPacket and diffRulesets take a ruleset: parsed already, or text(s) read as
// nftables when the first text with a statement reads as nftables (a sync's empty cleanupText
// may come first), else as iptables. What is neither is an InvalidInputError, not a TypeError.

import { InvalidInputError } from "../errors.js";
import { type IptablesRuleset, parseIptablesRuleset, type RulesetSource } from "./iptables-ruleset.js";
import { isNftablesText, type NftablesRuleset, parseNftablesRuleset } from "./nftables-ruleset.js";

/** What explainPacket and diffRulesets read: a parsed ruleset, or the text(s) of one. */
export type RulesetInput =
  | IptablesRuleset
  | NftablesRuleset
  | string
  | RulesetSource
  | readonly (string | RulesetSource)[];

/** Whether a text has a statement (not only blank and comment lines): an empty one is either mode. */
export function hasStatements(text: string): boolean {
  return /\S/.test(text.replace(/^\s*#.*$/gm, ""));
}

/** Whether `r` is a parsed ruleset (`kind` `iptables` or `nftables`). */
export function isParsedRuleset(r: unknown): r is IptablesRuleset | NftablesRuleset {
  if (typeof r !== "object" || r === null || Array.isArray(r)) return false;
  const kind = (r as { kind?: unknown }).kind;
  return kind === "iptables" || kind === "nftables";
}

/**
 * The ruleset `input` gives (`field` names it in errors: `ruleset`, `a`, `b`).
 *
 * @throws {@link InvalidInputError} (kind `Ruleset`) when it is not a ruleset, a text, a
 * `{ text }` source or a list of them, or (from the parsers) text that cannot be read.
 */
export function readRuleset(input: RulesetInput, field: string): IptablesRuleset | NftablesRuleset {
  if (isParsedRuleset(input)) return input;
  const shape = "must be rules text, { text, name }, a list of them, or a parsed ruleset";
  const raw: unknown = input;
  if (typeof raw !== "string" && (typeof raw !== "object" || raw === null))
    throw new InvalidInputError({ kind: "Ruleset" }, field, shape, raw);
  const list: readonly unknown[] = Array.isArray(raw) ? raw : [raw];
  const texts: string[] = [];
  for (const [i, s] of list.entries()) {
    const text = typeof s === "string" ? s : typeof s === "object" && s !== null ? (s as { text?: unknown }).text : s;
    if (typeof text !== "string")
      throw new InvalidInputError({ kind: "Ruleset" }, Array.isArray(raw) ? `${field}[${i}]` : field, shape, s);
    texts.push(text);
  }
  const sources = list as readonly (string | RulesetSource)[];
  const first = texts.find(hasStatements);
  return first !== undefined && isNftablesText(first) ? parseNftablesRuleset(sources) : parseIptablesRuleset(sources);
}
