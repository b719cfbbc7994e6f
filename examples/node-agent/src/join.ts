// --kubeconfig: join a cluster as its kubelet would, with @nodekit/kubelet-core/apiserver.
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { type CriServer, createCriServer, createImageClient, createRuntimeClient } from "@nodekit/cri";
import { createFakeRuntime } from "@nodekit/cri/testing";
import type { Pod, PodStatus } from "@nodekit/kubelet-core";
import { createNodeAgent as joinNode, type NodeAgent } from "@nodekit/kubelet-core/apiserver";

/** Options of {@link joinCluster}. */
export interface JoinOptions {
  /** A kubeconfig file (its current context), or a loaded `KubeConfig`. */
  kubeconfig: string | KubeConfig;
  /** CRI endpoint; default an embedded fake runtime served on a unix socket. */
  cri?: string | undefined;
  /** The node's name in the cluster. */
  nodeName: string;
  /** The node's IP, registered as its InternalIP and reported as the pods' hostIP. */
  nodeIP?: string | undefined;
  /** A folder of static pod manifests, mirrored into the API. */
  staticPods?: string | undefined;
  /** Sandbox cgroup parent on a real runtime (cgroupfs). */
  cgroupParent?: string | undefined;
  /** Relist period in ms (default 1000). */
  relistPeriodMs?: number | undefined;
}

/** A node joined to a cluster: {@link joinCluster}. */
export interface JoinedNode {
  /** The nodekit agent: reconciler, API source, status writer, Node and Lease. */
  readonly agent: NodeAgent;
  /** The CRI endpoint the pods run on. */
  readonly endpoint: string;
  /** The node's pods with their latest statuses. */
  pods(): { pod: Pod; status: PodStatus | undefined }[];
  /** Stops the agent and the embedded runtime; the pods keep running on a real runtime, as when a kubelet stops. */
  stop(): Promise<void>;
}

/**
 * Joins the cluster of `kubeconfig` as node `nodeName`: registers the Node, keeps its Lease, runs
 * the pods the scheduler binds to it on the CRI runtime and writes their statuses back.
 */
export async function joinCluster(options: JoinOptions): Promise<JoinedNode> {
  const kubeConfig =
    typeof options.kubeconfig === "string"
      ? (() => {
          const kc = new KubeConfig();
          kc.loadFromFile(options.kubeconfig);
          return kc;
        })()
      : options.kubeconfig;
  const dir = await mkdtemp(join(tmpdir(), "nodekit-join-"));
  let server: CriServer | undefined;
  let endpoint = options.cri ?? "";
  if (!endpoint) {
    const fake = createFakeRuntime({ registry: ["*"], runtimeName: "nodekit-fake" });
    server = createCriServer({ runtime: fake, image: fake });
    endpoint = `unix://${dir}/cri.sock`;
    await server.listen(endpoint);
  }
  const runtime = createRuntimeClient(endpoint);
  const image = createImageClient(endpoint);
  await runtime.verifyRuntime();
  const pods = new Map<string, { pod: Pod; status: PodStatus | undefined }>();
  const agent = joinNode({
    kubeConfig,
    nodeName: options.nodeName,
    runtime,
    image,
    nodeIPs: options.nodeIP ? [options.nodeIP] : undefined,
    staticPodPath: options.staticPods,
    relistPeriodMs: options.relistPeriodMs ?? 1000,
    podLogsRoot: join(dir, "pods"),
    cgroupParent: options.cgroupParent ? (p) => `${options.cgroupParent}/pod${p.metadata?.uid}` : undefined,
    node: {
      ...(options.nodeIP ? { addresses: [{ type: "InternalIP", address: options.nodeIP }] } : {}),
      // What the scheduler places pods against (the kubelet's cadvisor-based capacity, roughly).
      capacity: { cpu: String(cpus().length), memory: `${Math.floor(totalmem() / 1024)}Ki`, pods: "110" },
    },
  });
  agent.reconciler.onStatus(({ uid, pod, status }) => pods.set(uid, { pod, status }));
  await agent.start();
  return {
    agent,
    endpoint,
    pods: () => [...pods.values()],
    async stop() {
      await agent.stop();
      runtime.close();
      image.close();
      await server?.close({ graceMs: 0 });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
