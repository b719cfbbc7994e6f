// getPhase against the kubelet's pod-phase tables, case by case.
//
// Source: kubernetes/kubernetes pkg/kubelet/kubelet_pods_test.go (stored revision aba588cd, the one
// with sidecars GA and TestPodPhaseWithRestartAlwaysAndPodHasRun). Each upstream table hands
// getPhase a pod spec plus hand-made v1 container statuses (init statuses first, then regular ones)
// and a podIsTerminal flag; here the same inputs go to our exported getPhase. Case names are kept
// verbatim so a failure can be looked up upstream; inputs and expectations are restated.
//
// Ported in full: TestPodPhaseWithRestartAlways (9 cases), TestPodPhaseWithRestartAlwaysInitContainers
// (7), TestPodPhaseWithRestartAlwaysRestartableInitContainers (13), TestPodPhaseWithRestartAlwaysAndPodHasRun
// (4), TestPodPhaseWithRestartNever (7), TestPodPhaseWithRestartNeverInitContainers (7),
// TestPodPhaseWithRestartNeverRestartableInitContainers (13), TestPodPhaseWithRestartOnFailure (8).
//
// Skipped: none. These tables use no feature nodekit leaves out (no resources, resize, user
// namespaces, volume or image mounts, pod-level resources). Upstream has no OnFailure+init table
// (it defers to the Always one).
//
// Status shapes used by the tables (our names): waiting = waiting without a last termination;
// waitingAfter(n) = waiting whose last termination exited n (crash-loop back-off); running = running
// with `started` unset; started = running with `started: true`; exited(n) = terminated with code n.
// Upstream's "stopped" and "succeeded" statuses are both a termination with code 0, "failed" is -1.
//

import { describe, expect, it } from "vitest";
import type { Container, ContainerStatus, Pod } from "../src/pod.js";
import { getPhase } from "../src/status/compute-pod-status.js";
import { defined } from "./support/defined.js";

type Phase = "Pending" | "Running" | "Succeeded" | "Failed";

function status(name: string, fields: Partial<ContainerStatus>): ContainerStatus {
  return { name, ready: false, restartCount: 0, image: "", imageID: "", ...fields };
}
const waiting = (name: string) => status(name, { state: { waiting: {} } });
const waitingAfter = (name: string, exitCode: number) =>
  status(name, { state: { waiting: {} }, lastState: { terminated: { exitCode } } });
const running = (name: string) => status(name, { state: { running: {} } });
const started = (name: string) => status(name, { state: { running: {} }, started: true });
const exited = (name: string, exitCode: number) => status(name, { state: { terminated: { exitCode } } });

interface PhaseCase {
  name: string;
  init?: ContainerStatus[];
  regular?: ContainerStatus[];
  terminal?: boolean;
  expected: Phase;
}

function podWith(restartPolicy: string, containers: Container[], initContainers?: Container[]): Pod {
  const pod: Pod = { metadata: { name: "pod", namespace: "ns", uid: "uid" }, spec: { containers, restartPolicy } };
  if (initContainers) defined(pod.spec).initContainers = initContainers;
  return pod;
}

function table(title: string, pod: Pod, cases: PhaseCase[]) {
  describe(title, () => {
    for (const c of cases) {
      const run = () => {
        const statuses = [...(c.init ?? []), ...(c.regular ?? [])];
        expect(getPhase(pod, statuses, c.terminal ?? false)).toBe(c.expected);
      };
      it(c.name, run);
    }
  });
}

const AB: Container[] = [{ name: "containerA" }, { name: "containerB" }];
const sidecarX: Container = { name: "containerX", restartPolicy: "Always" };

table("TestPodPhaseWithRestartAlways", podWith("Always", AB), [
  { name: "waiting", expected: "Pending" },
  { name: "all running", regular: [running("containerA"), running("containerB")], expected: "Running" },
  {
    name: "all stopped with restart always",
    regular: [exited("containerA", 0), exited("containerB", 0)],
    expected: "Running",
  },
  {
    name: "all succeeded with restart always, but the pod is terminal",
    regular: [exited("containerA", 0), exited("containerB", 0)],
    terminal: true,
    expected: "Succeeded",
  },
  {
    name: "all stopped with restart always, but the pod is terminal",
    regular: [exited("containerA", 0), exited("containerB", -1)],
    terminal: true,
    expected: "Failed",
  },
  {
    name: "mixed state #1 with restart always",
    regular: [running("containerA"), exited("containerB", 0)],
    expected: "Running",
  },
  { name: "mixed state #2 with restart always", regular: [running("containerA")], expected: "Pending" },
  {
    name: "mixed state #3 with restart always",
    regular: [running("containerA"), waiting("containerB")],
    expected: "Pending",
  },
  {
    name: "backoff crashloop container with restart always",
    regular: [running("containerA"), waitingAfter("containerB", 0)],
    expected: "Running",
  },
]);

table("TestPodPhaseWithRestartAlwaysInitContainers", podWith("Always", AB, [{ name: "containerX" }]), [
  { name: "empty, waiting", expected: "Pending" },
  { name: "init container running", init: [running("containerX")], expected: "Pending" },
  { name: "init container terminated non-zero", init: [exited("containerX", -1)], expected: "Pending" },
  { name: "init container waiting, terminated zero", init: [waitingAfter("containerX", 0)], expected: "Pending" },
  {
    name: "init container waiting, terminated non-zero",
    init: [waitingAfter("containerX", -1)],
    expected: "Pending",
  },
  { name: "init container waiting, not terminated", init: [waiting("containerX")], expected: "Pending" },
  {
    name: "init container succeeded",
    init: [exited("containerX", 0)],
    regular: [running("containerA"), running("containerB")],
    expected: "Running",
  },
]);

table("TestPodPhaseWithRestartAlwaysRestartableInitContainers", podWith("Always", AB, [sidecarX]), [
  { name: "empty, waiting", expected: "Pending" },
  { name: "restartable init container running", init: [running("containerX")], expected: "Pending" },
  { name: "restartable init container stopped", init: [exited("containerX", 0)], expected: "Pending" },
  {
    name: "restartable init container waiting, terminated zero",
    init: [waitingAfter("containerX", 0)],
    expected: "Pending",
  },
  {
    name: "restartable init container waiting, terminated non-zero",
    init: [waitingAfter("containerX", -1)],
    expected: "Pending",
  },
  { name: "restartable init container waiting, not terminated", init: [waiting("containerX")], expected: "Pending" },
  {
    name: "restartable init container started, 1/2 regular container running",
    init: [started("containerX")],
    regular: [running("containerA")],
    expected: "Pending",
  },
  {
    name: "restartable init container started, all regular containers running",
    init: [started("containerX")],
    regular: [running("containerA"), running("containerB")],
    expected: "Running",
  },
  {
    name: "restartable init container running, all regular containers running",
    init: [running("containerX")],
    regular: [running("containerA"), running("containerB")],
    expected: "Running",
  },
  {
    name: "restartable init container stopped, all regular containers running",
    init: [exited("containerX", 0)],
    regular: [running("containerA"), running("containerB")],
    expected: "Running",
  },
  {
    name: "backoff crashloop restartable init container, all regular containers running",
    init: [waitingAfter("containerX", 0)],
    regular: [running("containerA"), running("containerB")],
    expected: "Running",
  },
  {
    name: "all regular containers succeeded and restartable init container failed with restart always, but the pod is terminal",
    init: [exited("containerX", -1)],
    regular: [exited("containerA", 0), exited("containerB", 0)],
    terminal: true,
    expected: "Succeeded",
  },
  {
    name: "all regular containers succeeded and restartable init container succeeded with restart always, but the pod is terminal",
    init: [exited("containerX", 0)],
    regular: [exited("containerA", 0), exited("containerB", 0)],
    terminal: true,
    expected: "Succeeded",
  },
]);

// A regular init container (X) and a sidecar (Y) in front of one app container.
table(
  "TestPodPhaseWithRestartAlwaysAndPodHasRun",
  podWith(
    "Always",
    [{ name: "containerA" }],
    [{ name: "containerX" }, { name: "containerY", restartPolicy: "Always" }],
  ),
  [
    {
      name: "regular init containers, restartable init container and regular container are all running",
      init: [running("containerX"), running("containerY")],
      regular: [running("containerA")],
      expected: "Pending",
    },
    {
      name: "regular containers is stopped, restartable init container and regular int container are both running",
      init: [running("containerX"), running("containerY")],
      regular: [exited("containerA", 0)],
      expected: "Pending",
    },
    {
      name: "regular init container is succeeded, restartable init container is running, regular containers is stopped",
      init: [exited("containerX", 0), running("containerY")],
      regular: [exited("containerA", 0)],
      expected: "Running",
    },
    {
      name: "regular init container is succeeded, restartable init container and regular containers are both running",
      init: [exited("containerX", 0), running("containerY")],
      regular: [running("containerA")],
      expected: "Running",
    },
  ],
);

table("TestPodPhaseWithRestartNever", podWith("Never", AB), [
  { name: "waiting", expected: "Pending" },
  {
    name: "all running with restart never",
    regular: [running("containerA"), running("containerB")],
    expected: "Running",
  },
  {
    name: "all succeeded with restart never",
    regular: [exited("containerA", 0), exited("containerB", 0)],
    expected: "Succeeded",
  },
  {
    name: "all failed with restart never",
    regular: [exited("containerA", -1), exited("containerB", -1)],
    expected: "Failed",
  },
  {
    name: "mixed state #1 with restart never",
    regular: [running("containerA"), exited("containerB", 0)],
    expected: "Running",
  },
  { name: "mixed state #2 with restart never", regular: [running("containerA")], expected: "Pending" },
  {
    name: "mixed state #3 with restart never",
    regular: [running("containerA"), waiting("containerB")],
    expected: "Pending",
  },
]);

table("TestPodPhaseWithRestartNeverInitContainers", podWith("Never", AB, [{ name: "containerX" }]), [
  { name: "empty, waiting", expected: "Pending" },
  { name: "init container running", init: [running("containerX")], expected: "Pending" },
  { name: "init container terminated non-zero", init: [exited("containerX", -1)], expected: "Failed" },
  { name: "init container waiting, terminated zero", init: [waitingAfter("containerX", 0)], expected: "Pending" },
  {
    name: "init container waiting, terminated non-zero",
    init: [waitingAfter("containerX", -1)],
    expected: "Failed",
  },
  { name: "init container waiting, not terminated", init: [waiting("containerX")], expected: "Pending" },
  {
    name: "init container succeeded",
    init: [exited("containerX", 0)],
    regular: [running("containerA"), running("containerB")],
    expected: "Running",
  },
]);

table("TestPodPhaseWithRestartNeverRestartableInitContainers", podWith("Never", AB, [sidecarX]), [
  { name: "empty, waiting", expected: "Pending" },
  { name: "restartable init container running", init: [running("containerX")], expected: "Pending" },
  { name: "restartable init container stopped", init: [exited("containerX", 0)], expected: "Pending" },
  {
    name: "restartable init container waiting, terminated zero",
    init: [waitingAfter("containerX", 0)],
    expected: "Pending",
  },
  {
    name: "restartable init container waiting, terminated non-zero",
    init: [waitingAfter("containerX", -1)],
    expected: "Pending",
  },
  { name: "restartable init container waiting, not terminated", init: [waiting("containerX")], expected: "Pending" },
  {
    name: "restartable init container started, one main container running",
    init: [started("containerX")],
    regular: [running("containerA")],
    expected: "Pending",
  },
  {
    name: "restartable init container started, main containers succeeded",
    init: [started("containerX")],
    regular: [exited("containerA", 0), exited("containerB", 0)],
    expected: "Running",
  },
  {
    name: "restartable init container running, main containers succeeded",
    init: [running("containerX")],
    regular: [exited("containerA", 0), exited("containerB", 0)],
    expected: "Running",
  },
  {
    name: "all containers succeeded",
    init: [exited("containerX", 0)],
    regular: [exited("containerA", 0), exited("containerB", 0)],
    expected: "Succeeded",
  },
  {
    name: "restartable init container terminated non-zero, main containers succeeded",
    init: [exited("containerX", -1)],
    regular: [exited("containerA", 0), exited("containerB", 0)],
    expected: "Succeeded",
  },
  {
    name: "backoff crashloop restartable init container, main containers succeeded",
    init: [waitingAfter("containerX", 0)],
    regular: [exited("containerA", 0), exited("containerB", 0)],
    expected: "Succeeded",
  },
  {
    name: "backoff crashloop with non-zero restartable init container, main containers succeeded",
    init: [waitingAfter("containerX", -1)],
    regular: [exited("containerA", 0), exited("containerB", 0)],
    expected: "Succeeded",
  },
]);

table("TestPodPhaseWithRestartOnFailure", podWith("OnFailure", AB), [
  { name: "waiting", expected: "Pending" },
  {
    name: "all running with restart onfailure",
    regular: [running("containerA"), running("containerB")],
    expected: "Running",
  },
  {
    name: "all succeeded with restart onfailure",
    regular: [exited("containerA", 0), exited("containerB", 0)],
    expected: "Succeeded",
  },
  // (upstream labels this OnFailure case "... restart never")
  {
    name: "all failed with restart never",
    regular: [exited("containerA", -1), exited("containerB", -1)],
    expected: "Running",
  },
  {
    name: "mixed state #1 with restart onfailure",
    regular: [running("containerA"), exited("containerB", 0)],
    expected: "Running",
  },
  { name: "mixed state #2 with restart onfailure", regular: [running("containerA")], expected: "Pending" },
  {
    name: "mixed state #3 with restart onfailure",
    regular: [running("containerA"), waiting("containerB")],
    expected: "Pending",
  },
  {
    name: "backoff crashloop container with restart onfailure",
    regular: [running("containerA"), waitingAfter("containerB", 0)],
    expected: "Running",
  },
]);
