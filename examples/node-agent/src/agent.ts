import { execFile } from "node:child_process";
import { type FSWatcher, watch } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  type CriServer,
  createCriServer,
  createImageClient,
  createRuntimeClient,
  type ImageClient,
  type RuntimeClient,
} from "@nodekit/cri";
import { createFakeRuntime } from "@nodekit/cri/testing";
import { createReconciler, type Pod, type PodEvent, type PodStatus, type Reconciler } from "@nodekit/kubelet-core";
import {
  compileIptables,
  createProxier,
  type EndpointSlice,
  type IptablesCompilation,
  type Service,
} from "@nodekit/proxy-rules";
import { buildEndpointSlices } from "./endpoint-slices.js";
import { readManifests } from "./manifests.js";

const run = promisify(execFile);

/** Options of {@link createNodeAgent}. */
export interface NodeAgentOptions {
  /** Folder of Pod, Service and EndpointSlice manifests (YAML or JSON). */
  manifests: string;
  /** A CRI endpoint to run pods on; default: an embedded fake runtime served on a unix socket. */
  cri?: string | undefined;
  /** The node's name (default `nodekit-node`). */
  nodeName?: string | undefined;
  /** The node's IP (default `192.168.49.2`), for NodePorts and host IPs. */
  nodeIP?: string | undefined;
  /** The cluster's pod CIDR (default `10.88.0.0/16`, the embedded runtime's pod network). */
  clusterCIDR?: string | undefined;
  /** How often the reconciler relists the runtime, in ms (default 1000). */
  relistPeriodMs?: number | undefined;
  /** Load the rules with iptables-restore, into this network namespace when given. */
  apply?: { netns?: string | undefined } | undefined;
  /** Watch the folder and reconcile edits and removals (default true). */
  watch?: boolean | undefined;
  /** Pod log folders root for a real runtime (default: under the agent's temporary folder). */
  podLogsRoot?: string | undefined;
  /** Cgroup parent for sandboxes on a real runtime (cgroupfs), e.g. `/nodekit`. */
  cgroupParent?: string | undefined;
  /** The embedded runtime's simulated image pull time, in ms (default 1200). */
  pullDelayMs?: number | undefined;
}

/** Something that happened, for the agent's output. */
export type AgentUpdate =
  | { kind: "pods" }
  | { kind: "event"; event: PodEvent }
  | { kind: "rules"; compilation: IptablesCompilation; applied: boolean }
  | { kind: "problem"; message: string };

/** A node agent: pods from manifests on a CRI runtime, and kube-proxy's rules for its services. */
export interface NodeAgent {
  /** The CRI endpoint pods run on. */
  readonly endpoint: string;
  /** Reads the manifests, starts reconciling and watching. */
  start(): Promise<void>;
  /** Pods with their latest statuses and when the agent first saw them. */
  pods(): { pod: Pod; status: PodStatus | undefined; since: number }[];
  /**
   * The latest compiled rules. With `apply`, their load may still be in flight (loads run one at a
   * time, in compile order); the `rules` update with `applied: true` tells when a compilation is in
   * the kernel.
   */
  rules(): IptablesCompilation | undefined;
  /** Services and slices the rules were compiled from. */
  proxyInput(): { services: readonly Service[]; endpointSlices: readonly EndpointSlice[] };
  /** Subscribes to updates; returns an unsubscribe function. */
  onUpdate(listener: (update: AgentUpdate) => void): () => void;
  /** Reads the manifests again now (the watcher does it on changes). */
  reload(): Promise<void>;
  /** Stops reconciling and watching; with `removePods`, kills and removes the pods first. */
  stop(options?: { removePods?: boolean }): Promise<void>;
}

/**
 * Composes the three nodekit packages into a node agent: kubelet-core runs the manifests' pods on
 * a CRI runtime (by default the fake runtime of `@nodekit/cri/testing`, served over gRPC on a unix
 * socket), the agent publishes EndpointSlices for its own pods, and proxy-rules compiles the
 * Services into kube-proxy's iptables rules, optionally loaded with iptables-restore.
 */
export function createNodeAgent(options: NodeAgentOptions): NodeAgent {
  const nodeName = options.nodeName ?? "nodekit-node";
  const nodeIP = options.nodeIP ?? "192.168.49.2";
  const listeners = new Set<(u: AgentUpdate) => void>();
  const emit = (u: AgentUpdate) => {
    for (const l of listeners) l(u);
  };
  const pods = new Map<string, { pod: Pod; status: PodStatus | undefined; since: number }>();
  let services: Service[] = [];
  let manifestSlices: EndpointSlice[] = [];
  let compiled: IptablesCompilation | undefined;
  // the stateful side for the node's own kernel: partial syncs after a successful load
  const proxier = createProxier({ mode: "iptables", partialResults: true });
  let loadedOnce = false;
  let lastInputKey = "";
  let dir = "";
  let server: CriServer | undefined;
  let runtime: RuntimeClient | undefined;
  let image: ImageClient | undefined;
  let reconciler: Reconciler | undefined;
  let watcher: FSWatcher | undefined;
  let endpoint = options.cri ?? "";
  let fake: ReturnType<typeof createFakeRuntime> | undefined;
  let recompiling = Promise.resolve();

  const recompile = () => {
    recompiling = recompiling.then(async () => {
      const built = buildEndpointSlices(services, [...pods.values()], nodeName);
      const endpointSlices = [...manifestSlices, ...built];
      const key = JSON.stringify([services, endpointSlices]);
      if (key === lastInputKey) return;
      lastInputKey = key;
      const input = {
        services,
        endpointSlices,
        node: { name: nodeName, addresses: [nodeIP] },
        config: { clusterCIDR: options.clusterCIDR ?? "10.88.0.0/16" },
      };
      let result: IptablesCompilation;
      try {
        result = compileIptables(input, { partialResults: true });
      } catch (err) {
        emit({ kind: "problem", message: `rules: ${(err as Error).message}` });
        return;
      }
      for (const e of result.errors) emit({ kind: "problem", message: e.message });
      compiled = result;
      let applied = false;
      if (options.apply && result.ipv4) {
        try {
          // A partial sync against what was loaded last, like kube-proxy; the first load is complete.
          const payload = proxier.sync(input);
          const prefix = options.apply.netns ? ["ip", "netns", "exec", options.apply.netns] : [];
          const restore = async (text: string) => {
            const [cmd = "iptables-restore", ...args] = [...prefix, "iptables-restore", "--noflush"];
            const child = run(cmd, args);
            child.child.stdin?.end(text);
            await child;
          };
          // The proxier makes IPv4 rules whenever the compilation had them.
          const ipv4 = payload.ipv4;
          if (!ipv4) throw new Error("the sync made no IPv4 rules");
          await restore(ipv4.text);
          // On the first load, the jumps from the built-in chains (they target chains `text` made).
          if (!loadedOnce) await restore(ipv4.jumpsText);
          proxier.applied();
          loadedOnce = true;
          applied = true;
        } catch (err) {
          if (proxier.pending) proxier.failed(); // the next sync is full
          emit({ kind: "problem", message: `iptables-restore failed: ${(err as Error).message.split("\n")[0]}` });
        }
      }
      emit({ kind: "rules", compilation: result, applied });
    });
    return recompiling;
  };

  const reload = async () => {
    const m = await readManifests(options.manifests);
    for (const p of m.problems) emit({ kind: "problem", message: p });
    services = m.services;
    manifestSlices = m.endpointSlices;
    // readManifests gives every pod a uid.
    const uidOf = (p: Pod): string => p.metadata?.uid ?? "";
    const wanted = new Set(m.pods.map(uidOf));
    for (const uid of pods.keys()) if (!wanted.has(uid)) pods.delete(uid);
    for (const pod of m.pods) {
      const known = pods.get(uidOf(pod));
      pods.set(uidOf(pod), { pod, status: known?.status, since: known?.since ?? Date.now() });
      if (fake)
        for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])])
          fake.scriptPull(c.image ?? "", { delayMs: options.pullDelayMs ?? 1200 });
    }
    reconciler?.updatePods(m.pods);
    emit({ kind: "pods" });
    await recompile();
  };

  return {
    get endpoint() {
      return endpoint;
    },
    async start() {
      dir = await mkdtemp(join(tmpdir(), "nodekit-agent-"));
      if (!options.cri) {
        fake = createFakeRuntime({ registry: ["*"], runtimeName: "nodekit-fake" });
        server = createCriServer({ runtime: fake, image: fake });
        endpoint = `unix://${dir}/cri.sock`;
        await server.listen(endpoint);
      }
      runtime = createRuntimeClient(endpoint);
      image = createImageClient(endpoint);
      await runtime.verifyRuntime();
      reconciler = createReconciler({
        runtime,
        image,
        nodeName,
        nodeIPs: [nodeIP],
        relistPeriodMs: options.relistPeriodMs ?? 1000,
        podLogsRoot: options.podLogsRoot ?? join(dir, "pods"),
        cgroupParent: options.cgroupParent ? (p) => `${options.cgroupParent}/pod${p.metadata?.uid}` : undefined,
        eventSink: (event) => emit({ kind: "event", event }),
        statusSink: ({ uid, status }) => {
          const entry = pods.get(uid);
          if (!entry) return;
          entry.status = status;
          emit({ kind: "pods" });
          void recompile();
        },
      });
      await reload();
      reconciler.start();
      if (options.watch !== false) {
        let timer: NodeJS.Timeout | undefined;
        watcher = watch(options.manifests, () => {
          clearTimeout(timer);
          timer = setTimeout(() => void reload().catch((err) => emit({ kind: "problem", message: String(err) })), 200);
        });
      }
    },
    pods: () => [...pods.values()],
    rules: () => compiled,
    proxyInput: () => ({
      services,
      endpointSlices: [...manifestSlices, ...buildEndpointSlices(services, [...pods.values()], nodeName)],
    }),
    onUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    reload,
    async stop({ removePods = true } = {}) {
      watcher?.close();
      if (reconciler) {
        await reconciler.stop();
        if (removePods) {
          reconciler.updatePods([]);
          await reconciler.syncAll();
        }
      }
      await recompiling;
      runtime?.close();
      image?.close();
      await server?.close({ graceMs: 1000 });
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}
