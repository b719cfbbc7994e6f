import type { KubeConfig, V1Node } from "@kubernetes/client-node";
import { type Clock, sleep, systemClock } from "../clock.js";
import { createFileSource, type FileSource } from "../config/file-source.js";
import type { PodSource, PodSourceSink } from "../config/pod-source.js";
import type { NodeStatusOptions } from "../nodestatus/types.js";
import type { Pod } from "../pod.js";
import { messageOf } from "../sync/listeners.js";
import { createReconciler, type Reconciler, type ReconcilerOptions } from "../sync/reconciler.js";
import { syncMirrorPods } from "./mirror-pods.js";
import {
  createNodeLease,
  createNodeStatusReporter,
  type NodeFacts,
  type NodeLease,
  type NodeStatusReporter,
  type NodeStatusReporterOptions,
  registerNode,
} from "./node.js";
import { type ApiServerSource, createApiServerSource } from "./pod-source.js";
import { createPodStatusWriter, type PodStatusWriter } from "./status-writer.js";

/** Options of {@link createNodeAgent}. */
export interface NodeAgentOptions extends Omit<ReconcilerOptions, "sources" | "statusSink"> {
  /** The cluster to join (`KubeConfig` of `@kubernetes/client-node`, loaded as you like). */
  kubeConfig: KubeConfig;
  /** The kubelet's `staticPodPath`: a folder of static pod manifests, mirrored into the API. */
  staticPodPath?: string | undefined;
  /** What to register the Node with besides its name (addresses, capacity, labels). */
  node?: Omit<NodeFacts, "nodeName" | "runtime"> | undefined;
  /** Node Lease settings (default 40 s duration, renewed every 10 s). */
  lease?: { durationSeconds?: number; renewIntervalMs?: number } | undefined;
  /** Options of the API server source (backoff, watch timeout). */
  watch?: { initialBackoffMs?: number; maxBackoffMs?: number; watchTimeoutSeconds?: number } | undefined;
  /** First wait before writing a status again after a failure, doubling up to 30 s (default 500 ms). */
  statusRetryMs?: number | undefined;
  /** Other pod sources of yours, besides the API server and the static pod folder. */
  extraSources?: readonly PodSource[] | undefined;
  /**
   * Report the Node's status as the kubelet does ({@link createNodeStatusReporter}): computed from
   * the host facts, the runtime and the pressure every `updateFrequencyMs` (10 s), written when it
   * changed or every `reportFrequencyMs` (5 min); the pressure conditions come from the
   * reconciler's eviction manager when `eviction` is set. Without it the Node keeps the status it was
   * registered with from `node` (addresses, capacity) and only its Lease is renewed.
   */
  nodeStatus?: NodeAgentStatusOptions | undefined;
}

/** The node status part of {@link NodeAgentOptions}. */
export interface NodeAgentStatusOptions
  extends Pick<NodeStatusReporterOptions, "host" | "pressure" | "updateFrequencyMs" | "reportFrequencyMs" | "onEvent"> {
  /** How the status is computed besides the node's name; `nodeIPs` defaults to the agent's `nodeIPs`. */
  options?: Omit<NodeStatusOptions, "nodeName"> | undefined;
}

/** A node agent joined to a cluster: {@link createNodeAgent}. */
export interface NodeAgent {
  /** The reconciler running the node's pods. */
  readonly reconciler: Reconciler;
  /** The API server source (its resourceVersion and list count). */
  readonly apiSource: ApiServerSource;
  /** The static pod source, if `staticPodPath` was given. */
  readonly fileSource: FileSource | undefined;
  /** The Node as registered (after {@link NodeAgent.start}). */
  readonly node: V1Node | undefined;
  /** Registers the Node, starts the Lease, the pod sources and the reconciler. */
  start(): Promise<void>;
  /** Stops everything; writes the statuses still queued first (waiting at most 5 s for the API server). */
  stop(): Promise<void>;
  /** Resolves when every status queued so far is written. */
  flushStatuses(): Promise<void>;
  /** The Node status reporter, when `nodeStatus` was given. */
  readonly nodeStatus: NodeStatusReporter | undefined;
}

/**
 * A node agent as the kubelet is one: registers its Node (nodeInfo from the runtime's Version) and
 * keeps its Lease in `kube-node-lease`, runs the pods the API server binds to it (and static pods
 * from `staticPodPath`, mirrored into the API), writes their statuses to the `status` subresource
 * and finishes graceful deletions — all through `@kubernetes/client-node`.
 *
 * @example
 * ```ts
 * import { KubeConfig } from "@kubernetes/client-node";
 * import { createImageClient, createRuntimeClient } from "@nodekit/cri/api";
 * import { createNodeAgent } from "@nodekit/kubelet-core/apiserver";
 *
 * const kubeConfig = new KubeConfig();
 * kubeConfig.loadFromDefault();
 * const endpoint = "unix:///run/containerd/containerd.sock";
 * const agent = createNodeAgent({
 *   kubeConfig,
 *   nodeName: "edge-1",
 *   runtime: createRuntimeClient(endpoint),
 *   image: createImageClient(endpoint),
 * });
 * await agent.start();
 * ```
 */
export function createNodeAgent(options: NodeAgentOptions): NodeAgent {
  const { kubeConfig, nodeName } = options;
  const clock: Clock = options.clock ?? systemClock;
  const log = options.logger;
  const apiSource = createApiServerSource({ kubeConfig, nodeName, logger: log, clock, ...options.watch });
  const fileSource = options.staticPodPath
    ? createFileSource({ path: options.staticPodPath, nodeName, clock, ...(log ? { logger: log } : {}) })
    : undefined;
  // The static pods, kept to mirror them into the API.
  const staticPods = new Map<string, Pod>();
  const teeStatic = (source: FileSource): PodSource => ({
    name: source.name,
    start(sink, signal) {
      const tee: PodSourceSink = {
        add(p) {
          staticPods.set(p.metadata?.uid ?? "", p);
          sink.add(p);
        },
        update(p) {
          staticPods.set(p.metadata?.uid ?? "", p);
          sink.update(p);
        },
        remove(p) {
          staticPods.delete(p.metadata?.uid ?? "");
          sink.remove(p);
        },
        set: (pods) => {
          staticPods.clear();
          for (const p of pods) staticPods.set(p.metadata?.uid ?? "", p);
          sink.set(pods);
        },
        synced: () => sink.synced(),
      };
      return source.start(tee, signal);
    },
  });
  const writer: PodStatusWriter = createPodStatusWriter({
    kubeConfig,
    logger: log,
    clock,
    retryMs: options.statusRetryMs,
  });
  const {
    kubeConfig: _k,
    staticPodPath: _s,
    node: _n,
    lease: _l,
    watch: _w,
    nodeStatus: _ns,
    extraSources,
    ...reconcilerOptions
  } = options;
  const reconciler = createReconciler({
    ...reconcilerOptions,
    sources: [apiSource, ...(fileSource ? [teeStatic(fileSource)] : []), ...(extraSources ?? [])],
    statusSink: (update) => writer.write(update),
  });
  let node: V1Node | undefined;
  let lease: NodeLease | undefined;
  const statusReporter = options.nodeStatus
    ? createNodeStatusReporter({
        kubeConfig,
        runtime: options.runtime,
        image: options.image,
        clock,
        logger: log,
        host: options.nodeStatus.host,
        // The reconciler's eviction manager (when `eviction` is configured) unless told otherwise.
        pressure:
          options.nodeStatus.pressure ??
          (() => reconciler.eviction?.pressure() ?? { memory: false, disk: false, pid: false }),
        updateFrequencyMs: options.nodeStatus.updateFrequencyMs,
        reportFrequencyMs: options.nodeStatus.reportFrequencyMs,
        onEvent: options.nodeStatus.onEvent,
        status: { nodeIPs: options.nodeIPs, ...options.nodeStatus.options, nodeName },
      })
    : undefined;
  const stopping = new AbortController();
  let mirrorLoop: Promise<void> | undefined;

  return {
    reconciler,
    apiSource,
    fileSource,
    get node() {
      return node;
    },
    nodeStatus: statusReporter,
    async start() {
      const version = await options.runtime.version({});
      node = await registerNode(
        kubeConfig,
        {
          ...options.node,
          nodeName,
          runtime: { runtimeName: version.runtimeName, runtimeVersion: version.runtimeVersion },
        },
        statusReporter ? await statusReporter.compute(undefined) : undefined,
      );
      if (statusReporter) {
        // An existing Node gets its status now, then on the kubelet's cadence.
        await statusReporter
          .sync()
          .catch((err) => log?.warn("updating the node status failed", { error: messageOf(err) }));
        statusReporter.start();
      }
      lease = createNodeLease({
        kubeConfig,
        nodeName,
        nodeUid: node.metadata?.uid,
        clock,
        logger: log,
        ...options.lease,
      });
      lease.start();
      reconciler.start();
      if (fileSource) {
        const ref = { name: nodeName, uid: node.metadata?.uid ?? "" };
        mirrorLoop = (async () => {
          while (!stopping.signal.aborted) {
            await syncMirrorPods(kubeConfig, ref, staticPods.values()).then(
              () => writer.resync(),
              (err) => log?.warn("syncing mirror pods failed", { error: messageOf(err) }),
            );
            await sleep(clock, options.relistPeriodMs ?? 1000, stopping.signal).catch(() => undefined);
          }
        })();
      }
    },
    async stop() {
      stopping.abort();
      await reconciler.stop();
      // The statuses still queued are written, unless the API server is away: then at most 5 s.
      let timer: unknown;
      await Promise.race([writer.flush(), new Promise<void>((r) => (timer = clock.setTimeout(r, 5_000)))]);
      clock.clearTimeout(timer);
      writer.stop();
      await statusReporter?.stop();
      await lease?.stop();
      await mirrorLoop;
    },
    flushStatuses: () => writer.flush(),
  };
}
