// @nodekit/kubelet-core/apiserver: a node agent's API side over @kubernetes/client-node.

export { fromApiObject, podFromApi, rfc3339, toV1PodStatus } from "./convert.js";
export { mirrorPodOf, syncMirrorPods } from "./mirror-pods.js";
export type {
  NodeFacts,
  NodeLease,
  NodeLeaseOptions,
  NodeStatusReporter,
  NodeStatusReporterOptions,
} from "./node.js";
export {
  createNodeLease,
  createNodeStatusReporter,
  nodeLeaseNamespace,
  nodeObject,
  nodeStatusUpdateRetry,
  registerNode,
  toV1NodeStatus,
} from "./node.js";
export type { NodeAgent, NodeAgentOptions, NodeAgentStatusOptions } from "./node-agent.js";
export { createNodeAgent } from "./node-agent.js";
export type { ApiServerSource, ApiServerSourceOptions } from "./pod-source.js";
export { createApiServerSource } from "./pod-source.js";
export { kubeletOwnedConditions, mergePodStatus, podStatusPatch } from "./status-patch.js";
export type { PodStatusWriter, PodStatusWriterOptions } from "./status-writer.js";
export { configMirrorAnnotation, createPodStatusWriter } from "./status-writer.js";
