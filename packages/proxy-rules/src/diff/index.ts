// The ruleset diff's public surface (re-exported by the package entry).

export {
  diffRulesets,
  type EndpointWeight,
  type RulesetDiff,
  type RulesetInput,
  type ServicePortDiff,
  type ServicePortRules,
  servicePortRules,
} from "./diff-rulesets.js";
