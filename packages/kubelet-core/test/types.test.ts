import type { V1Pod, V1PodStatus } from "@kubernetes/client-node";
import { describe, expect, expectTypeOf, it } from "vitest";
import { computePodStatus, type Pod, type PodStatus, podRuntimeStatusFrom } from "../src/index.js";

describe("API object types", () => {
  it("accepts @kubernetes/client-node's V1Pod, and its PodStatus fits V1PodStatus", () => {
    const fromClient: V1Pod = {
      metadata: { name: "web", namespace: "default", uid: "u1", deletionTimestamp: new Date(0) },
      spec: {
        containers: [{ name: "app", image: "nginx:1.27", ports: [{ containerPort: 80 }] }],
        restartPolicy: "Always",
      },
    };
    const pod: Pod = fromClient; // compiles: the client's objects are nodekit pods
    expectTypeOf<V1Pod>().toExtend<Pod>();
    const status = computePodStatus(
      pod,
      podRuntimeStatusFrom({ uid: "u1", name: "web", namespace: "default", sandboxes: [], containers: [] }),
      {
        now: 0,
      },
    );
    // Written back onto a client-node object (status timestamps are RFC 3339 strings, as in JSON).
    const asClient = status as unknown as V1PodStatus;
    expect(asClient.phase).toBe("Pending");
    expectTypeOf<PodStatus["phase"]>().toEqualTypeOf<string | undefined>();
  });

  it("accepts plain JSON as kubectl prints it", () => {
    const json = JSON.parse(
      '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","namespace":"d","uid":"u","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"containers":[{"name":"a","image":"busybox"}]}}',
    ) as Pod;
    expect(json.spec?.containers[0]?.name).toBe("a");
  });
});
