// @nodekit/proxy-rules: kube-proxy's rules as a pure function.

export { compileIptables } from "./iptables/compile.js";
export type {
  CompileIptablesOptions,
  IptablesCompilation,
  IptablesResult,
  IptablesStats,
} from "./iptables/compile.js";
export { compileIpvs, syncIpvs } from "./ipvs/compile.js";
export type {
  CompileIpvsOptions,
  IpvsCompilation,
  IpvsResult,
  IpvsState,
  IpvsStats,
  IpvsSyncFrom,
} from "./ipvs/compile.js";
export { DEFAULT_IPVS_SCHEDULER, IPVS_KERNEL_SCHEDULERS } from "./ipvs/config.js";
export { IPVS_IPSETS, type IpsetInfo, type IpsetType, ipsetName } from "./ipvs/ipsets.js";
export type { IpvsDrainingServer, IpvsOperation, IpvsReconcilePlan } from "./ipvs/operations.js";
export {
  type IpsetKernelSet,
  type IpvsKernelOutputs,
  type IpvsKernelRealServer,
  type IpvsKernelState,
  type IpvsKernelVirtualServer,
  ipvsKernelState,
  parseIpAddrShow,
  parseIpsetSave,
  parseIpvsadmList,
  parseIpvsadmSave,
} from "./ipvs/parse.js";
export { type PlanIpvsReconcileOptions, planIpvsReconcile } from "./ipvs/reconcile.js";
export {
  IPVS_DUMMY_DEVICE,
  IPVS_IPTABLES_JUMPS,
  type IpvsIpset,
  type IpvsIptablesChain,
  type IpvsIptablesJump,
  type IpvsIptablesTables,
} from "./ipvs/render.js";
export {
  FLAG_PERSISTENT,
  FLAG_SOURCE_HASH,
  type IpvsProtocol,
  type IpvsRealServer,
  type IpvsVirtualServer,
  type IpvsVirtualServerKind,
} from "./ipvs/services.js";
export type { ProxyInput } from "./plan/input.js";
export { compileNftables } from "./nftables/compile.js";
export type {
  CompileNftablesOptions,
  NftablesCompilation,
  NftablesResult,
  NftablesStats,
} from "./nftables/compile.js";
export {
  createProxier,
  type Proxier,
  type ProxierIptablesOptions,
  type ProxierIpvsOptions,
  type ProxierNftablesOptions,
  type ProxierOptions,
  type ProxierSyncOptions,
  type ProxyMode,
} from "./proxier.js";
export {
  type CtState,
  type EndpointShare,
  type ExplainedRule,
  type ExplainPacketOptions,
  type ExplainStep,
  explainPacket,
  type IptablesRuleset,
  type IptablesRulesetChain,
  type IptablesRulesetRule,
  type NftablesChain,
  type NftablesObject,
  type NftablesRule,
  type NftablesRuleset,
  type NftablesSet,
  type NftablesSetElement,
  type NftablesTable,
  type PacketEntry,
  type PacketExplanation,
  type PacketOutcome,
  type PacketSpec,
  type PacketVerdict,
  parseIptablesRuleset,
  parseNftablesRuleset,
  type RulesetSource,
} from "./trace/index.js";
export {
  diffRulesets,
  type EndpointWeight,
  type RulesetDiff,
  type RulesetInput,
  type ServicePortDiff,
  type ServicePortRules,
  servicePortRules,
} from "./diff/index.js";
export {
  conntrackArgs,
  type ConntrackEntry,
  type ConntrackFilter,
  type ConntrackTuple,
  type PlanConntrackCleanupOptions,
  parseConntrack,
  planConntrackCleanup,
} from "./plan/conntrack.js";
export { canaryFlushed, IPTABLES_CANARY, renderCanary } from "./iptables/canary.js";
export {
  type ServiceHealthCheck,
  type ServiceHealthChecksOptions,
  serviceHealthChecks,
} from "./plan/health-check.js";
export { InvalidInputError } from "./errors.js";
export type { InvalidObjectRef } from "./errors.js";
export { sortIptablesRules } from "./iptables/sort.js";
export { IPTABLES_JUMPS, renderJumps } from "./iptables/jumps.js";
export { renderTable } from "./iptables/render.js";
export type {
  IptablesChain,
  IptablesJump,
  IptablesRule,
  IptablesTable,
  IptablesTableName,
  IptablesTables,
} from "./iptables/ir.js";
export type { HostFacts, KubeProxyConfiguration, NodeInfo } from "./model/config.js";
export type { IPFamily } from "./model/ip.js";
export type {
  Endpoint,
  EndpointPort,
  EndpointSlice,
  LoadBalancerIngress,
  ObjectMeta,
  Service,
  ServicePort,
} from "./model/kube-types.js";
