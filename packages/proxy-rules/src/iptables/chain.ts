// Chains hold their rules as rendered restore lines (one flat string per chain): that is what the
// payload is made of, and it keeps a 400,000-rule ruleset cheap to build and compare. The argv
// view of each rule is parsed on first access.

import type { IptablesChain, IptablesRule } from "./ir.js";
import { parseArgs } from "./render.js";

class Rule implements IptablesRule {
  #args: readonly string[] | undefined;
  constructor(readonly text: string) {}
  get args(): readonly string[] {
    this.#args ??= parseArgs(this.text);
    return this.#args;
  }
  toJSON(): { text: string; args: readonly string[] } {
    return { text: this.text, args: this.args };
  }
}

class Chain implements IptablesChain {
  #rules: readonly IptablesRule[] | undefined;
  constructor(
    readonly name: string,
    readonly text: string,
    /** Number of rules (lines) in `text`. */
    readonly size: number,
  ) {}
  get rules(): readonly IptablesRule[] {
    if (!this.#rules) {
      const prefix = `-A ${this.name}`;
      const out: IptablesRule[] = [];
      for (const line of this.text.split("\n")) {
        if (line === "") continue;
        out.push(new Rule(line.length > prefix.length ? line.slice(prefix.length + 1) : ""));
      }
      this.#rules = out;
    }
    return this.#rules;
  }
  toJSON(): { name: string; rules: readonly IptablesRule[] } {
    return { name: this.name, rules: this.rules };
  }
}

/** A chain with its rule count. */
export type SizedChain = IptablesChain & { readonly size: number };

/** A chain from its rendered lines (`-A NAME …\n` each, `size` of them). */
export function chainFromText(name: string, text: string, size: number): SizedChain {
  return new Chain(name, text, size);
}

/** A chain from the argument texts of its rules. */
export function chainFromRules(name: string, rules: readonly string[]): SizedChain {
  return new Chain(name, linesOf(name, rules), rules.length);
}

/** `-A NAME text\n` for each rule text. */
export function linesOf(name: string, rules: readonly string[]): string {
  if (rules.length === 0) return "";
  const lines = new Array<string>(rules.length + 1);
  rules.forEach((t, i) => {
    lines[i] = t === "" ? `-A ${name}` : `-A ${name} ${t}`;
  });
  lines[rules.length] = "";
  return lines.join("\n");
}
