// Runs a reconciler against a CRI endpoint until killed. Used by the end-to-end test that kills a
// reconciler in the middle of a sync (SIGKILL, no cleanup) and starts another one.
// Usage: node --import tsx reconcile-child.ts <endpoint> <cgroupParent> <logsRoot> <pods.json>
import { readFileSync } from "node:fs";
import { createImageClient, createRuntimeClient } from "@nodekit/cri";
import { createReconciler, type Pod } from "../../src/index.js";

const [endpoint, cgroupParent, podLogsRoot, podsFile] = process.argv.slice(2) as [string, string, string, string];
const pods = JSON.parse(readFileSync(podsFile, "utf8")) as Pod[];
const reconciler = createReconciler({
  runtime: createRuntimeClient(endpoint),
  image: createImageClient(endpoint),
  nodeName: "e2e",
  podLogsRoot,
  cgroupParent: (pod) => `${cgroupParent}/pod${pod.metadata?.uid}`,
  eventSink: (e) => process.stdout.write(`${JSON.stringify({ reason: e.reason, container: e.container })}\n`),
});
reconciler.updatePods(pods);
reconciler.start();
