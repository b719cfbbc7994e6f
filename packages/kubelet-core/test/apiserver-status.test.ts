// The pieces of the node agent's API side that are pure: the package's pod status in
// client-node's form (checked with client-node's own serializer), the kubelet's status merge and
// its strategic merge patch.
import type { V1PodStatus } from "@kubernetes/client-node";
// The serializer client-node's API calls write request bodies with (1.3 does not export it from its index).
import { ObjectSerializer } from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";
import { describe, expect, it } from "vitest";
import { mergePodStatus, podFromApi, podStatusPatch, toV1PodStatus } from "../src/apiserver/index.js";
import type { PodStatus } from "../src/index.js";
import { createScenario } from "../src/testing/index.js";
import { defined } from "./support/defined.js";

describe("toV1PodStatus", () => {
  it("turns a status the reconciler computed into one client-node serializes to the same JSON", async () => {
    const s = createScenario({
      pods: [
        {
          metadata: { name: "web", namespace: "default", uid: "uid-web" },
          spec: {
            initContainers: [{ name: "init", image: "busybox", command: ["true"] }],
            containers: [{ name: "app", image: "busybox", command: ["sleep", "3600"] }],
          },
        },
      ],
    });
    await s.runUntil(() => s.status("web")?.phase === "Running");
    const status = defined(s.status("web"));
    const v1 = toV1PodStatus(status);
    expect(v1.startTime).toBeInstanceOf(Date);
    expect(v1.conditions?.[0]?.lastTransitionTime).toBeInstanceOf(Date);
    expect(v1.containerStatuses?.[0]?.state?.running?.startedAt).toBeInstanceOf(Date);
    expect(v1.initContainerStatuses?.[0]?.state?.terminated?.finishedAt).toBeInstanceOf(Date);
    // client-node writes what the API expects: the same JSON as the package's status (null
    // lastProbeTime left out, times in seconds).
    const wire = ObjectSerializer.serialize(v1, "V1PodStatus", "") as Record<string, unknown>;
    const strip = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v) => (v === null ? undefined : v)));
    const isoSeconds = (x: unknown) =>
      JSON.parse(JSON.stringify(x).replace(/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z/g, "$1Z"));
    expect(isoSeconds(strip(wire))).toEqual(isoSeconds(strip(status)));
    // And back: client-node's typed object becomes the package's form again.
    const typed = ObjectSerializer.deserialize(wire, "V1PodStatus", "") as V1PodStatus;
    expect(podFromApi({ status: typed }).status).toEqual(strip(podFromApi({ status: isoSeconds(status) }).status));
  });
});

describe("mergePodStatus", () => {
  it("keeps conditions others own and a terminal phase, as the kubelet's status manager", () => {
    const api: PodStatus = {
      phase: "Succeeded",
      conditions: [
        { type: "Ready", status: "False" },
        { type: "example.com/gate", status: "True" },
        { type: "DisruptionTarget", status: "True", reason: "EvictionByEvictionAPI" },
      ],
    };
    const merged = mergePodStatus(api, { phase: "Running", conditions: [{ type: "Ready", status: "True" }] });
    expect(merged.phase).toBe("Succeeded");
    expect(merged.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual([
      "Ready=True",
      "example.com/gate=True",
      "DisruptionTarget=True",
    ]);
  });
});

describe("podStatusPatch", () => {
  it("is undefined when nothing changed", () => {
    const st: PodStatus = { phase: "Running", conditions: [{ type: "Ready", status: "True" }] };
    expect(podStatusPatch("u", st, structuredClone(st))).toBeUndefined();
  });

  it("has the kubelet's shape: uid precondition, conditions by type with $setElementOrder, container statuses whole", () => {
    const old: PodStatus = {
      phase: "Pending",
      podIP: "10.0.0.1",
      conditions: [
        { type: "Initialized", status: "True" },
        { type: "Ready", status: "False", reason: "ContainersNotReady" },
      ],
      containerStatuses: [
        {
          name: "app",
          ready: false,
          restartCount: 0,
          image: "busybox",
          imageID: "",
          state: { waiting: { reason: "ContainerCreating" } },
        },
        { name: "gone", ready: false, restartCount: 0, image: "busybox", imageID: "" },
      ],
    };
    const next: PodStatus = {
      phase: "Running",
      conditions: [
        { type: "Initialized", status: "True" },
        { type: "Ready", status: "True" },
      ],
      containerStatuses: [
        {
          name: "app",
          ready: true,
          restartCount: 0,
          image: "busybox",
          imageID: "sha256:1",
          state: { running: { startedAt: "2026-12-02T00:00:00Z" } },
        },
      ],
    };
    expect(podStatusPatch("uid-1", old, next)).toEqual({
      metadata: { uid: "uid-1" },
      status: {
        phase: "Running",
        podIP: null,
        "$setElementOrder/conditions": [{ type: "Initialized" }, { type: "Ready" }],
        conditions: [{ type: "Ready", status: "True", reason: null }],
        // No merge strategy in k8s.io/api: the changed list is sent whole, and replaces the API's.
        containerStatuses: next.containerStatuses,
      },
    });
  });
});
