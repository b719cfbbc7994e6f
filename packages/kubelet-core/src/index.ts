// @nodekit/kubelet-core: the kubelet's pod sync as a pluggable reconciler over any CRI runtime.

export {
  computePodActions,
  podSandboxChanged,
  shouldContainerBeRestarted,
  isRestartableInitContainer,
  networkNamespaceFor,
} from "./plan/compute-pod-actions.js";
export type { SandboxChange } from "./plan/compute-pod-actions.js";
export type { ContainerToKill, KillReason, PodActions, ProbeResult, ProbeResults } from "./plan/types.js";
export { hashContainer } from "./plan/hash.js";
export { computePodStatus, getPhase, ContainerCreating, PodInitializing } from "./status/compute-pod-status.js";
export type { ComputePodStatusOptions, StartFailure } from "./status/compute-pod-status.js";
export { podRuntimeStatusFrom, toRuntimeContainerStatus, findContainerStatus } from "./runtime-status.js";
export type { PodRuntimeStatus, RuntimeContainerState, RuntimeContainerStatus } from "./runtime-status.js";
export { labels } from "./labels.js";
export { KubeletError } from "./errors.js";
export { podMetadataProblems, podProblems, validatePod } from "./validate.js";
export { createBackoff, formatDuration } from "./backoff.js";
export type { Backoff, BackoffOptions } from "./backoff.js";
export { systemClock } from "./clock.js";
export type { Clock } from "./clock.js";
export { createImagePuller, defaultPullPolicy } from "./sync/image-puller.js";
export type { EnsureImageRequest, ImagePuller, ImagePullerOptions, ImagePullEvent } from "./sync/image-puller.js";
export { createExecHookRunner, createHookRunner } from "./sync/hooks.js";
export type { HookRequest, HookRunner, HookRunnerOptions } from "./sync/hooks.js";
export { generateContainerConfig, generatePodSandboxConfig, podLogDirectory } from "./sync/configs.js";
export type { ConfigOptions } from "./sync/configs.js";
export type * from "./pod.js";
export { createReconciler } from "./sync/reconciler.js";
export type { Reconciler, ReconcilerEvictionOptions, ReconcilerOptions } from "./sync/reconciler.js";
export { createPodConfig } from "./config/pod-config.js";
export type { PodConfig, PodConfigChange } from "./config/pod-config.js";
export type { PodSource, PodSourceSink } from "./config/pod-source.js";
export {
  configHashAnnotation,
  configSeenAnnotation,
  configSourceAnnotation,
  createFileSource,
  defaultFileCheckFrequencyMs,
  fileSourceName,
  maxManifestBytes,
} from "./config/file-source.js";
export type { FileSource, FileSourceOptions, FileSourceProblem, ManifestParser } from "./config/file-source.js";
export { createRelister } from "./sync/relister.js";
export type { Relister, RelisterOptions } from "./sync/relister.js";
export { createPodWorkers } from "./sync/pod-workers.js";
export type { PodWorkers, PodWorkersOptions } from "./sync/pod-workers.js";
export { createExecutor, gracePeriodOf } from "./sync/executor.js";
export type { Executor, ExecutorOptions, SyncContext } from "./sync/executor.js";
export { createGarbageCollector } from "./sync/garbage-collector.js";
export type { GarbageCollector, GarbageCollectorOptions } from "./sync/garbage-collector.js";
export { createStatusManager } from "./sync/status-manager.js";
export type { PodStatusUpdate, StatusManager } from "./sync/status-manager.js";
export { createEventRecorder } from "./sync/events.js";
export type { EventRecorder, PodEvent } from "./sync/events.js";
export type { Logger } from "./sync/listeners.js";
export { createProber, createProbeRunner, maxProbeRetries } from "./sync/prober.js";
export type { ProbeHandler, ProbeKind, ProbeOutcome, Prober, ProberOptions, ProbeRequest } from "./sync/prober.js";
export { defaultEvictionHard, evictionSignals, parseEvictionThresholds } from "./eviction/thresholds.js";
export type {
  EvictionSignal,
  EvictionThreshold,
  EvictionThresholdConfig,
  ThresholdOperator,
  ThresholdValue,
} from "./eviction/thresholds.js";
export { parseQuantity } from "./eviction/quantity.js";
export type { Quantity, QuantityFormat } from "./eviction/quantity.js";
export { updateContainerFsThresholds } from "./eviction/thresholds.js";
export type { ContainerFsThresholds } from "./eviction/thresholds.js";
export { createEvictionManager, evictedStatus, immediateEvictionGracePeriodSeconds } from "./eviction/manager.js";
export type {
  EvictionAdmitResult,
  EvictionEvent,
  EvictionManager,
  EvictionManagerOptions,
  NodePressure,
  PodEviction,
  SynchronizeResult,
} from "./eviction/manager.js";
export {
  makeSignalObservations,
  mergeThresholds,
  nodeConditions,
  rankPods,
  signalCondition,
  signalNodeReclaims,
  signalRankMeasures,
  signalResource,
  sortByEvictionPriority,
  thresholdQuantity,
  thresholdsMet,
  thresholdsMetGracePeriod,
  thresholdsUpdatedStats,
} from "./eviction/helpers.js";
export type {
  EvictionResource,
  FsLayout,
  FsStatsType,
  NodeReclaim,
  PodStatsOf,
  PressureCondition,
  RankMeasure,
  SignalObservation,
  SignalObservations,
} from "./eviction/helpers.js";
export { evictedReason, evictionAnnotations, evictionMessage } from "./eviction/message.js";
export { isCriticalPod, podRequest, systemCriticalPriority } from "./eviction/pod-resources.js";
export { localStorageViolation, podLimit } from "./eviction/local-storage.js";
export type {
  EvictionContainer,
  EvictionPod,
  EvictionToleration,
  EvictionVolume,
  QuantityValue,
} from "./eviction/pod-resources.js";
export { createCriStatsProvider, readCgroupMemory } from "./eviction/cri-stats.js";
export type { CgroupMemory, CriStatsProviderOptions } from "./eviction/cri-stats.js";
export { nodeStatsFromHostFacts } from "./eviction/host-stats.js";
export type { NodeStatsFromHostFactsOptions } from "./eviction/host-stats.js";
export type {
  FsStats,
  MemoryStats,
  NodeStats,
  PodStats,
  StatsSummary,
  StatsTime,
  SummaryContainerStats,
  VolumeStats,
} from "./eviction/stats.js";
export {
  computeNodeStatus,
  defaultMaxPods,
  defaultNodeStatusMaxImages,
  goPlatform,
  maxNamesPerImageInNodeStatus,
  nodeAllocatableReservation,
  nodeStatusHasChanged,
} from "./nodestatus/compute-node-status.js";
export { observeRuntimeStatus, defaultRuntimeSyncThresholdMs } from "./nodestatus/runtime-state.js";
export { nodeAddresses, validateNodeIP } from "./nodestatus/addresses.js";
export type { NodeAddressInput } from "./nodestatus/addresses.js";
export { formatQuantity, parseNodeQuantity } from "./nodestatus/quantity.js";
export type { NodeQuantity } from "./nodestatus/quantity.js";
export type {
  ContainerImage,
  MachineFacts,
  NodeAddress,
  NodeCondition,
  NodeStatus,
  NodeStatusEvent,
  NodeStatusFacts,
  NodeStatusOptions,
  NodeStatusResult,
  NodeSystemInfo,
  RuntimeObservation,
} from "./nodestatus/types.js";
export { collectHostFacts, machineFactsOf, nodeStatusFactsOf, statFilesystem } from "./host/collect-host-facts.js";
export type {
  CgroupMemoryFacts,
  CollectHostFactsOptions,
  FilesystemFacts,
  HostFacts,
  RuntimeFilesystemFacts,
} from "./host/collect-host-facts.js";
