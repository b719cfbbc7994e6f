// The packet tracer's public surface (re-exported by the package entry).

export {
  type EndpointShare,
  type ExplainedRule,
  type ExplainPacketOptions,
  type ExplainStep,
  explainPacket,
  type PacketEntry,
  type PacketExplanation,
  type PacketOutcome,
  type PacketSpec,
  type PacketVerdict,
} from "./explain.js";
export type { CtState } from "./iptables-matches.js";
export {
  type IptablesRuleset,
  type IptablesRulesetChain,
  type IptablesRulesetRule,
  parseIptablesRuleset,
  type RulesetSource,
} from "./iptables-ruleset.js";
export {
  type NftablesChain,
  type NftablesObject,
  type NftablesRule,
  type NftablesRuleset,
  type NftablesSet,
  type NftablesSetElement,
  type NftablesTable,
  parseNftablesRuleset,
} from "./nftables-ruleset.js";
