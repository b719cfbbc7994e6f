// The texts a ruleset reader is given, checked once for both readers (iptables and nftables):
// a string, a { text, name } source, or a list of them; anything else is an InvalidInputError
// naming the source, not a TypeError later.

import { InvalidInputError } from "../errors.js";
import type { RulesetSource } from "./iptables-ruleset.js";

/** One checked source: its text, the name messages use, and its place in the list. */
export interface CheckedSource {
  readonly text: string;
  readonly name: string;
  readonly index: number;
  readonly source: RulesetSource;
}

/**
 * The sources of a reader call, each with its text and name (`rules`, or `rules[i]` in a list, when
 * it has none).
 *
 * @throws {@link InvalidInputError} (kind `Ruleset`, field `text`) for an entry that is not a
 * string or a `{ text }` source with a string text.
 */
export function checkedSources(sources: string | RulesetSource | readonly (string | RulesetSource)[]): CheckedSource[] {
  const list: readonly unknown[] = Array.isArray(sources) ? sources : [sources];
  return list.map((s, index) => {
    const fallback = list.length === 1 ? "rules" : `rules[${index}]`;
    if (typeof s !== "string" && (typeof s !== "object" || s === null))
      throw new InvalidInputError({ kind: "Ruleset", name: fallback }, "text", "not a string or { text }", s);
    const source: RulesetSource = typeof s === "string" ? { text: s } : (s as RulesetSource);
    const name = typeof source.name === "string" ? source.name : fallback;
    if (typeof source.text !== "string")
      throw new InvalidInputError({ kind: "Ruleset", name }, "text", "not a string", source.text);
    return { text: source.text, name, index, source };
  });
}
