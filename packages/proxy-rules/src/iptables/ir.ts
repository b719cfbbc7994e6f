// The structured form of an iptables-restore payload: tables → chains → rules. Rules hold their
// arguments as argv tokens (unquoted values, exactly what iptables receives), so that a reader
// never has to parse restore syntax.

/** The two tables kube-proxy writes. */
export type IptablesTableName = "filter" | "nat";

/**
 * One rule: the arguments after `-A CHAIN`, both as restore-syntax text
 * (`-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp …`) and as argv tokens
 * (`["-m", "comment", "--comment", "ns1/svc1:p80 cluster IP", "-m", "tcp", …]`, values unquoted).
 */
export interface IptablesRule {
  readonly text: string;
  readonly args: readonly string[];
}

/** A chain declared in the payload (`:NAME - [0:0]`, which also flushes it) and its rules. */
export interface IptablesChain {
  readonly name: string;
  readonly rules: readonly IptablesRule[];
  /** The chain's rules as restore lines (`-A NAME …`, each ending in a line break). */
  readonly text: string;
}

/** One table of the payload. */
export interface IptablesTable {
  readonly name: IptablesTableName;
  /** Chains in declaration order; each is flushed and refilled by the payload. */
  readonly chains: readonly IptablesChain[];
  /** Chains the payload deletes (declared to flush them, then `-X`). */
  readonly deletedChains: readonly string[];
}

/** Both tables of a payload. */
export interface IptablesTables {
  readonly filter: IptablesTable;
  readonly nat: IptablesTable;
}

/**
 * A rule kube-proxy installs in a built-in chain with `iptables -I` (outside its restore payload)
 * so that traffic reaches its own chains.
 */
export interface IptablesJump {
  readonly table: IptablesTableName;
  /** The built-in chain: `PREROUTING`, `INPUT`, `FORWARD`, `OUTPUT` or `POSTROUTING`. */
  readonly chain: string;
  /** The kube-proxy chain jumped to. */
  readonly target: string;
  /** The full argv after `-I CHAIN` (matches, comment, `-j TARGET`). */
  readonly args: readonly string[];
}
