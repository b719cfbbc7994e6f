#!/usr/bin/env -S node --import tsx
// nodekit-node-agent: run the pods of a folder of manifests on a CRI runtime, and print the
// kube-proxy rules of their Services. See README.md.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { type AgentUpdate, createNodeAgent } from "./agent.js";
import { joinCluster } from "./join.js";
import { podRow, renderTable } from "./table.js";

const usage = `Usage: nodekit-node-agent [--manifests DIR] [options]
       nodekit-node-agent --kubeconfig FILE [--static-pods DIR] [options]

Runs the Pods of DIR on a CRI runtime with @nodekit/kubelet-core, builds EndpointSlices for them,
compiles their Services into kube-proxy's iptables rules with @nodekit/proxy-rules, and shows a live
pod table. Edits and removals in DIR are reconciled.

With --kubeconfig, joins that cluster as a node instead: registers the Node, keeps its Lease in
kube-node-lease, runs the pods bound to it (and static pods from --static-pods, mirrored into the
API) and writes their statuses back, as a kubelet does.

Options:
  --manifests DIR        folder of Pod/Service/EndpointSlice YAML (default: ./manifests)
  --kubeconfig FILE      join the cluster of FILE (its current context) as node --node-name
  --static-pods DIR      with --kubeconfig: the static pod folder (the kubelet's staticPodPath)
  --cri ENDPOINT         CRI endpoint, e.g. unix:///run/containerd/containerd.sock
                         (default: an embedded fake runtime served on a unix socket)
  --node-name NAME       node name (default nodekit-node)
  --node-ip IP           node IP (default 192.168.49.2)
  --cgroup-parent PATH   sandbox cgroup parent on a real runtime (cgroupfs)
  --apply                load the rules with iptables-restore (needs root)
  --netns NAME           with --apply: load them into this network namespace
  --until-running        exit once every pod is Running and ready and the rules are compiled
  --timeout SECONDS      with --until-running: give up after this long (default 60)
  --keep-pods            on exit, leave the pods running (default: remove them)
  -h, --help             this help`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      manifests: { type: "string", default: "manifests" },
      kubeconfig: { type: "string" },
      "static-pods": { type: "string" },
      cri: { type: "string" },
      "node-name": { type: "string" },
      "node-ip": { type: "string" },
      "cgroup-parent": { type: "string" },
      apply: { type: "boolean" },
      netns: { type: "string" },
      "until-running": { type: "boolean" },
      timeout: { type: "string", default: "60" },
      "keep-pods": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const out = process.stdout;
  const tty = out.isTTY === true;
  if (values.kubeconfig) return joined({ ...values, kubeconfig: values.kubeconfig }, out);
  const agent = createNodeAgent({
    manifests: resolve(values.manifests),
    cri: values.cri,
    nodeName: values["node-name"],
    nodeIP: values["node-ip"],
    cgroupParent: values["cgroup-parent"],
    apply: values.apply ? { netns: values.netns } : undefined,
    relistPeriodMs: 500,
  });

  // --- output for a person: a live table, and what happens below it ------------------------
  const log: string[] = [];
  let drawn = 0;
  let lastTable = "";
  const draw = () => {
    const now = Date.now();
    const rows = agent
      .pods()
      .map(({ pod, status, since }) => podRow(pod, status, since, now))
      .sort((a, b) => a.name.localeCompare(b.name));
    const table = renderTable(rows);
    if (tty) {
      const lines = [table, "", ...log.slice(-8)];
      out.write(`${drawn ? `\x1b[${drawn}A\x1b[J` : ""}${lines.join("\n")}\n`);
      drawn = lines.length;
    } else if (table !== lastTable) {
      out.write(`\n${table}\n`);
    }
    lastTable = table;
  };
  const note = (line: string) => {
    if (tty) log.push(line);
    else out.write(`${line}\n`);
  };
  agent.onUpdate((u: AgentUpdate) => {
    if (u.kind === "event") {
      const e = u.event;
      if (
        ["Pulling", "Pulled", "Killing", "BackOff", "Failed", "FailedCreatePodSandBox", "FailedValidation"].includes(
          e.reason,
        )
      ) {
        note(
          `  ${e.type === "Warning" ? "!" : "·"} ${e.pod.name}${e.container ? `/${e.container}` : ""}: ${e.message}`,
        );
      }
    } else if (u.kind === "problem") {
      note(`  ! ${u.message}`);
    } else if (u.kind === "rules") {
      const r = u.compilation.ipv4;
      if (r)
        note(
          `  · rules: ${r.stats.servicePorts} service ports, ${r.stats.endpoints} endpoints → ${r.stats.natRules} nat + ${r.stats.filterRules} filter rules${u.applied ? " (loaded)" : ""}`,
        );
    }
    draw();
  });
  const ticker = setInterval(draw, 1000);

  await agent.start();
  note(
    `nodekit node agent on ${agent.endpoint}${values.cri ? "" : " (embedded fake runtime)"}, manifests in ${values.manifests}`,
  );
  draw();

  const finish = async (code: number) => {
    clearInterval(ticker);
    await agent.stop({ removePods: !values["keep-pods"] });
    return code;
  };

  if (values["until-running"]) {
    const deadline = Date.now() + Number(values.timeout) * 1000;
    const allRunning = () => {
      const list = agent.pods();
      return (
        list.length > 0 &&
        list.every(
          ({ status }) =>
            status?.phase === "Running" && status.conditions?.find((c) => c.type === "Ready")?.status === "True",
        )
      );
    };
    while (!allRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 300)); // the rules follow the last status change
    draw();
    const ok = allRunning();
    const rules = agent.rules()?.ipv4;
    const list = agent.pods();
    const restarts = list.reduce(
      (n, { status }) => n + (status?.containerStatuses ?? []).reduce((m, c) => m + c.restartCount, 0),
      0,
    );
    out.write(
      `\n${ok ? "✔" : "✘"} ${list.filter((p) => p.status?.phase === "Running").length}/${list.length} pods Running and ready` +
        ` (${restarts} restarts), ${agent.proxyInput().services.length} services → ${rules ? `${rules.stats.natRules + rules.stats.filterRules} iptables rules` : "no rules"}\n`,
    );
    if (rules) {
      out.write("\n# kube-proxy rules (iptables-restore input), then the jumps from the built-in chains:\n");
      out.write(rules.text);
      out.write(rules.jumpsText);
    }
    if (!ok) out.write(`\ntimed out after ${values.timeout}s waiting for every pod to be Running and ready\n`);
    return finish(ok ? 0 : 1);
  }

  return new Promise<number>((resolveExit) => {
    const onSignal = () => void finish(0).then(resolveExit);
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
}

/** --kubeconfig: a node of a real cluster; prints its pods as they change, until a signal (or all run). */
async function joined(
  values: {
    kubeconfig: string;
    "static-pods"?: string | undefined;
    cri?: string | undefined;
    "node-name"?: string | undefined;
    "node-ip"?: string | undefined;
    "cgroup-parent"?: string | undefined;
    "until-running"?: boolean | undefined;
    timeout?: string | undefined;
  },
  out: NodeJS.WriteStream,
): Promise<number> {
  const node = await joinCluster({
    kubeconfig: resolve(values.kubeconfig),
    cri: values.cri,
    nodeName: values["node-name"] ?? "nodekit-node",
    nodeIP: values["node-ip"],
    staticPods: values["static-pods"] ? resolve(values["static-pods"]) : undefined,
    cgroupParent: values["cgroup-parent"],
  });
  out.write(`nodekit node agent joined as node ${node.agent.node?.metadata?.name} (CRI ${node.endpoint})\n`);
  let last = "";
  const draw = () => {
    const now = Date.now();
    const rows = node
      .pods()
      .map(({ pod, status }) => podRow(pod, status, now, now))
      .sort((a, b) => a.name.localeCompare(b.name));
    const table = renderTable(rows);
    if (table !== last) out.write(`\n${table}\n`);
    last = table;
  };
  const ticker = setInterval(draw, 1000);
  const allRunning = () => {
    const list = node.pods();
    return list.length > 0 && list.every(({ status }) => status?.phase === "Running");
  };
  if (values["until-running"]) {
    const deadline = Date.now() + Number(values.timeout ?? "60") * 1000;
    while (!allRunning() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await node.agent.flushStatuses();
    draw();
    clearInterval(ticker);
    const ok = allRunning();
    await node.stop();
    return ok ? 0 : 1;
  }
  return new Promise<number>((resolveExit) => {
    const onSignal = () => {
      clearInterval(ticker);
      void node.stop().then(() => resolveExit(0));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`nodekit-node-agent: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
