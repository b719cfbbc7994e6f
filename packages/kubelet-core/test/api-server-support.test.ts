// The test API server (test/support/api-server) driven by @kubernetes/client-node 1.3 unchanged:
// each behaviour a node agent relies on, with kube-apiserver's codes, reasons and messages.

import { request } from "node:https";
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  ListWatch,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type V1Pod,
  Watch,
} from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestApiServer, type JsonObject, type TestApiServer } from "./support/api-server/index.js";
import { defined } from "./support/defined.js";

let server: TestApiServer;
let core: CoreV1Api;
let coordination: CoordinationV1Api;

beforeEach(async () => {
  server = await createTestApiServer({ bookmarkIntervalMs: 20 });
  core = server.kubeConfig().makeApiClient(CoreV1Api);
  coordination = server.kubeConfig().makeApiClient(CoordinationV1Api);
});
afterEach(async () => {
  await server.close();
});

const pod = (name: string, nodeName?: string): V1Pod => ({
  metadata: { name, labels: { app: name } },
  spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: "app", image: "busybox:1.36" }] },
});

/** The Status an ApiException carries (client-node keeps the body as text). */
async function statusOf(call: Promise<unknown>): Promise<JsonObject> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiException) return JSON.parse(String(error.body)) as JsonObject;
    throw error;
  }
  throw new Error("the call succeeded");
}

interface Seen {
  type: string;
  name: string | undefined;
  resourceVersion: string | undefined;
  object: Record<string, unknown>;
}

/** Opens a watch and collects its events; `stop()` aborts it. */
async function watchEvents(path: string, query: Record<string, string | boolean>) {
  const events: Seen[] = [];
  let ended: unknown = "open";
  const controller = await new Watch(server.kubeConfig()).watch(
    path,
    query,
    (type, object: { metadata?: { name?: string; resourceVersion?: string } }) => {
      events.push({ type, name: object.metadata?.name, resourceVersion: object.metadata?.resourceVersion, object });
    },
    (err) => {
      ended = err;
    },
  );
  await server.waitFor(() => server.openWatches > 0 || ended !== "open");
  return { events, ended: () => ended, stop: () => controller.abort() };
}

/** A GET over HTTPS trusting the server's CA, with no token. */
function rawGet(path: string): Promise<{ code: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}${path}`, { ca: server.ca }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => {
        text += c.toString();
      });
      res.on("end", () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Waits for a condition outside the store (an informer's callbacks), re-checked after each change and every few ms. */
async function eventually(condition: () => boolean, message: string) {
  for (let i = 0; i < 1_000 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!condition()) throw new Error(message);
}

describe("test API server with client-node", () => {
  it("requires the bearer token (401 Unauthorized Status)", async () => {
    const anonymous401 = await rawGet("/api/v1/pods");
    expect(anonymous401).toEqual({
      code: 401,
      body: {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        code: 401,
      },
    });
    const kc = server.kubeConfig();
    const user = kc.getCurrentUser();
    if (user) Object.assign(user, { token: "wrong" });
    const anonymous = kc.makeApiClient(CoreV1Api);
    const error = await anonymous.listPodForAllNamespaces().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiException);
    expect((error as ApiException<unknown>).code).toBe(401);
    expect(server.requests.at(-1)).toMatchObject({ path: "/api/v1/pods", status: 401 });
    // The right token is accepted.
    await expect(core.listPodForAllNamespaces()).resolves.toMatchObject({ kind: "PodList" });
  });

  it("creates, gets and lists pods with a spec.nodeName field selector; 409 AlreadyExists and 404 NotFound Statuses", async () => {
    const created = await core.createNamespacedPod({ namespace: "default", body: pod("web", "node-1") });
    expect(created.metadata).toMatchObject({ name: "web", namespace: "default", generation: 1 });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(created.status).toEqual({ phase: "Pending", qosClass: "BestEffort" });
    expect(created.spec).toMatchObject({ restartPolicy: "Always", terminationGracePeriodSeconds: 30 });
    await core.createNamespacedPod({ namespace: "kube-system", body: pod("dns", "node-1") });
    await core.createNamespacedPod({ namespace: "default", body: pod("db", "node-2") });

    const mine = await core.listPodForAllNamespaces({ fieldSelector: "spec.nodeName=node-1" });
    expect(mine.items.map((p) => `${p.metadata?.namespace}/${p.metadata?.name}`)).toEqual([
      "default/web",
      "kube-system/dns",
    ]);
    expect(Number(mine.metadata?.resourceVersion)).toBe(server.store.resourceVersion);
    const others = await core.listNamespacedPod({ namespace: "default", fieldSelector: "spec.nodeName!=node-1" });
    expect(others.items.map((p) => p.metadata?.name)).toEqual(["db"]);
    const byLabel = await core.listPodForAllNamespaces({ labelSelector: "app in (web,db),app!=db" });
    expect(byLabel.items.map((p) => p.metadata?.name)).toEqual(["web"]);
    expect((await core.readNamespacedPod({ name: "web", namespace: "default" })).spec?.nodeName).toBe("node-1");

    expect(await statusOf(core.createNamespacedPod({ namespace: "default", body: pod("web") }))).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: 'pods "web" already exists',
      reason: "AlreadyExists",
      details: { name: "web", kind: "pods" },
      code: 409,
    });
    expect(await statusOf(core.readNamespacedPod({ name: "nope", namespace: "default" }))).toMatchObject({
      status: "Failure",
      message: 'pods "nope" not found',
      reason: "NotFound",
      details: { name: "nope", kind: "pods" },
      code: 404,
    });
    expect(await statusOf(core.listPodForAllNamespaces({ fieldSelector: "spec.color=red" }))).toMatchObject({
      reason: "BadRequest",
      message: "field label not supported: spec.color",
      code: 400,
    });
    expect(await statusOf(core.createNamespacedPod({ namespace: "nowhere", body: pod("x") }))).toMatchObject({
      reason: "NotFound",
      message: 'namespaces "nowhere" not found',
    });
  });

  it("pages a list with limit and continue; a continue token from before compact() is 410 Expired", async () => {
    for (const name of ["a", "b", "c"]) await core.createNamespacedPod({ namespace: "default", body: pod(name) });
    const first = await core.listNamespacedPod({ namespace: "default", limit: 2 });
    expect(first.items.map((p) => p.metadata?.name)).toEqual(["a", "b"]);
    expect(first.metadata?.remainingItemCount).toBe(1);
    await core.createNamespacedPod({ namespace: "default", body: pod("d") });
    // The rest of the list is as of the first page's resourceVersion: "d" is not in it.
    const token = defined(first.metadata?._continue, "a continue token");
    const rest = await core.listNamespacedPod({ namespace: "default", limit: 2, _continue: token });
    expect(rest.items.map((p) => p.metadata?.name)).toEqual(["c"]);
    expect(rest.metadata?.resourceVersion).toBe(first.metadata?.resourceVersion);
    expect(rest.metadata?._continue).toBeUndefined();

    server.compact();
    const status = await statusOf(core.listNamespacedPod({ namespace: "default", _continue: token }));
    expect(status).toMatchObject({ code: 410, reason: "Expired" });
    expect(String(status.message)).toMatch(
      /^The provided continue parameter is too old to display a consistent list result\./,
    );
  });

  it("streams ADDED, MODIFIED, DELETED in order from a resourceVersion, replaying what happened after it", async () => {
    const list = await core.listNamespacedPod({ namespace: "default" });
    const from = list.metadata?.resourceVersion ?? "";
    await core.createNamespacedPod({ namespace: "default", body: pod("w") });
    const w = await watchEvents("/api/v1/namespaces/default/pods", { resourceVersion: from });
    await core.patchNamespacedPod(
      { name: "w", namespace: "default", body: { metadata: { labels: { tier: "front" } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedPod({ name: "w", namespace: "default" }); // not bound to a node: deleted at once
    await eventually(() => w.events.length >= 3, "three events");
    expect(w.events.map((e) => [e.type, e.name])).toEqual([
      ["ADDED", "w"],
      ["MODIFIED", "w"],
      ["DELETED", "w"],
    ]);
    const rvs = w.events.map((e) => Number(e.resourceVersion));
    expect(rvs).toEqual([...rvs].sort((a, b) => a - b));
    expect(defined(w.events[0]).object).toMatchObject({ kind: "Pod", apiVersion: "v1" });
    w.stop();
  });

  it("sends BOOKMARKs at the configured interval when asked, and sendInitialEvents ends the initial state with one", async () => {
    await core.createNamespacedPod({ namespace: "default", body: pod("b") });
    const w = await watchEvents("/api/v1/pods", {
      sendInitialEvents: true,
      resourceVersionMatch: "NotOlderThan",
      allowWatchBookmarks: true,
    });
    await eventually(() => w.events.filter((e) => e.type === "BOOKMARK").length >= 2, "two bookmarks");
    expect(w.events[0]).toMatchObject({ type: "ADDED", name: "b" });
    expect(w.events[1]).toMatchObject({
      type: "BOOKMARK",
      object: { kind: "Pod", metadata: { annotations: { "k8s.io/initial-events-end": "true" } } },
    });
    expect(w.events[2]).toMatchObject({ type: "BOOKMARK", resourceVersion: String(server.store.resourceVersion) });
    w.stop();
  });

  it("answers a watch from a compacted resourceVersion with an ERROR event of Status 410 Expired, then ends it", async () => {
    const old = String(server.store.resourceVersion);
    await core.createNamespacedPod({ namespace: "default", body: pod("x") });
    server.compact();
    const w = await watchEvents("/api/v1/pods", { resourceVersion: old });
    await eventually(() => w.ended() !== "open", "the stream ends");
    expect(w.ended()).toBeNull();
    expect(w.events).toEqual([
      {
        type: "ERROR",
        name: undefined,
        resourceVersion: undefined,
        object: {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: `too old resource version: ${old} (${server.store.resourceVersion})`,
          reason: "Expired",
          code: 410,
        },
      },
    ]);
  });

  it("keeps an informer whole across broken watches (no lost or doubled events) and re-lists after a 410", async () => {
    await core.createNamespacedPod({ namespace: "default", body: pod("p0") });
    const informer = new ListWatch<V1Pod>(
      "/api/v1/pods",
      new Watch(server.kubeConfig()),
      () => core.listPodForAllNamespaces(),
      false,
    );
    const seen: string[] = [];
    const errors: unknown[] = [];
    informer.on("add", (p) => seen.push(`add ${p.metadata?.name}`));
    informer.on("update", (p) => seen.push(`update ${p.metadata?.name} ${p.metadata?.labels?.n ?? ""}`));
    informer.on("delete", (p) => seen.push(`delete ${p.metadata?.name}`));
    // client-node's ListWatch stops on a watch error; restarting it is the caller's job (its README does the same).
    let stopping = false;
    let gate = Promise.resolve();
    informer.on("error", (err) => {
      errors.push(err);
      if (!stopping) void gate.then(() => informer.start());
    });
    await informer.start();
    await server.waitFor(() => server.openWatches === 1);
    const label = (name: string, n: string) =>
      core.patchNamespacedPod(
        { name, namespace: "default", body: { metadata: { labels: { n } } } },
        setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
      );
    await label("p0", "1");
    server.breakWatches();
    // Changes while the informer has no watch are replayed from its last resourceVersion.
    await core.createNamespacedPod({ namespace: "default", body: pod("p1") });
    await label("p0", "2");
    await server.waitFor(() => server.openWatches === 1);
    server.breakWatches();
    await core.deleteNamespacedPod({ name: "p1", namespace: "default" });
    await server.waitFor(() => server.openWatches === 1);
    await eventually(() => seen.length >= 5, "five callbacks");
    expect(seen).toEqual(["add p0", "update p0 1", "add p1", "update p0 2", "delete p1"]);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    const lists = () => server.requests.filter((r) => r.path === "/api/v1/pods" && !r.query.watch).length;
    expect(lists()).toBe(1);

    // A watch resumed from a compacted resourceVersion gets 410: the informer lists again and carries on.
    let release = () => {};
    gate = new Promise((resolve) => {
      release = resolve;
    });
    server.breakWatches();
    await core.createNamespacedPod({ namespace: "default", body: pod("p2") });
    await core.deleteNamespacedPod({ name: "p0", namespace: "default" });
    server.compact();
    release();
    await eventually(() => seen.includes("delete p0"), "p0's deletion seen after the re-list");
    expect(lists()).toBe(2);
    // A re-list reports what left before what came (client-node's ListWatch order).
    expect(seen.slice(5)).toEqual(["delete p0", "add p2"]);
    await core.createNamespacedPod({ namespace: "default", body: pod("p3") });
    await eventually(() => seen.includes("add p3"), "p3 seen on the new watch");
    expect(informer.list().map((p) => p.metadata?.name)).toEqual(["p2", "p3"]);
    stopping = true;
    await informer.stop();
  });

  it("refuses a PUT with a stale resourceVersion (409 Conflict) and does not bump the version of a no-op update", async () => {
    const created = await core.createNamespacedPod({ namespace: "default", body: pod("c", "node-1") });
    const stale = structuredClone(created);
    const fresh = await core.replaceNamespacedPod({
      name: "c",
      namespace: "default",
      body: { ...created, spec: { ...defined(created.spec), activeDeadlineSeconds: 60 } },
    });
    expect(Number(fresh.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    expect(fresh.metadata?.generation).toBe(2);
    expect(await statusOf(core.replaceNamespacedPod({ name: "c", namespace: "default", body: stale }))).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message:
        'Operation cannot be fulfilled on pods "c": the object has been modified; please apply your changes to the latest version and try again',
      reason: "Conflict",
      details: { name: "c", kind: "pods" },
      code: 409,
    });
    const same = await core.replaceNamespacedPod({ name: "c", namespace: "default", body: fresh });
    expect(same.metadata?.resourceVersion).toBe(fresh.metadata?.resourceVersion);
    // Pod specs are immutable but for images and a few fields.
    const moved = { ...fresh, spec: { ...defined(fresh.spec), nodeName: "node-2" } };
    expect(await statusOf(core.replaceNamespacedPod({ name: "c", namespace: "default", body: moved }))).toMatchObject({
      code: 422,
      reason: "Invalid",
    });
  });

  it("lets pods/status change only status and the pod itself change everything but status", async () => {
    const created = await core.createNamespacedPod({ namespace: "default", body: pod("s", "node-1") });
    const viaStatus = await core.replaceNamespacedPodStatus({
      name: "s",
      namespace: "default",
      body: {
        ...created,
        spec: { ...defined(created.spec), containers: [{ name: "app", image: "changed:1" }] },
        status: { phase: "Running", podIP: "10.0.0.5" },
      },
    });
    expect(viaStatus.status).toMatchObject({ phase: "Running", podIP: "10.0.0.5", qosClass: "BestEffort" });
    expect(viaStatus.spec?.containers[0]?.image).toBe("busybox:1.36");
    expect(viaStatus.metadata?.generation).toBe(1);

    const viaPod = await core.replaceNamespacedPod({
      name: "s",
      namespace: "default",
      body: {
        ...viaStatus,
        spec: {
          ...defined(viaStatus.spec),
          containers: [{ ...defined(defined(viaStatus.spec).containers[0]), image: "busybox:1.37" }],
        },
        status: { phase: "Failed" },
      },
    });
    expect(viaPod.status?.phase).toBe("Running");
    expect(viaPod.spec?.containers[0]?.image).toBe("busybox:1.37");
    expect(viaPod.metadata?.generation).toBe(2);
    expect((await core.readNamespacedPodStatus({ name: "s", namespace: "default" })).status?.phase).toBe("Running");
  });

  it("merges a strategic merge patch of pod status: conditions by type ($setElementOrder), containerStatuses replaced whole", async () => {
    await core.createNamespacedPod({ namespace: "default", body: pod("m", "node-1") });
    const smp = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
    await core.patchNamespacedPodStatus(
      {
        name: "m",
        namespace: "default",
        body: {
          status: {
            phase: "Running",
            conditions: [
              { type: "PodScheduled", status: "True" },
              { type: "Ready", status: "False" },
            ],
            containerStatuses: [
              { name: "app", ready: false, restartCount: 0, image: "busybox:1.36", imageID: "", state: {} },
              { name: "side", ready: false, restartCount: 0, image: "busybox:1.36", imageID: "", state: {} },
            ],
            podIPs: [{ ip: "10.0.0.7" }],
          },
        },
      },
      smp,
    );
    // What the kubelet's status manager sends: the changed condition with $setElementOrder, the whole containerStatuses.
    const patched = await core.patchNamespacedPodStatus(
      {
        name: "m",
        namespace: "default",
        body: {
          status: {
            "$setElementOrder/conditions": [{ type: "Initialized" }, { type: "PodScheduled" }, { type: "Ready" }],
            conditions: [
              { type: "Initialized", status: "True" },
              { type: "Ready", status: "True" },
            ],
            containerStatuses: [
              { name: "app", ready: true, restartCount: 1, image: "busybox:1.36", imageID: "", state: {} },
            ],
            podIPs: [{ ip: "fd00::7" }],
          },
        },
      },
      smp,
    );
    expect(patched.status?.conditions?.map((c) => [c.type, c.status])).toEqual([
      ["Initialized", "True"],
      ["PodScheduled", "True"],
      ["Ready", "True"],
    ]);
    expect(patched.status?.containerStatuses?.map((c) => [c.name, c.ready, c.restartCount])).toEqual([
      ["app", true, 1],
    ]);
    // Without $setElementOrder a new element goes before the server's others (kube's mergeSortedSlice).
    expect(patched.status?.podIPs?.map((p) => p.ip)).toEqual(["fd00::7", "10.0.0.7"]);
    expect(patched.status?.phase).toBe("Running");
    expect(server.requests.at(-1)).toMatchObject({
      method: "PATCH",
      path: "/api/v1/namespaces/default/pods/m/status",
      contentType: "application/strategic-merge-patch+json",
    });

    // $patch: delete removes one element of a merged list; $patch: replace replaces the list.
    const deleted = await core.patchNamespacedPodStatus(
      {
        name: "m",
        namespace: "default",
        body: { status: { conditions: [{ type: "Initialized", $patch: "delete" }] } },
      },
      smp,
    );
    expect(deleted.status?.conditions?.map((c) => c.type)).toEqual(["PodScheduled", "Ready"]);
    const replaced = await core.patchNamespacedPodStatus(
      {
        name: "m",
        namespace: "default",
        body: { status: { conditions: [{ $patch: "replace" }, { type: "Ready", status: "False" }] } },
      },
      smp,
    );
    expect(replaced.status?.conditions?.map((c) => [c.type, c.status])).toEqual([["Ready", "False"]]);
  });

  it("uses JSON patch by default, merge patch on request, and a patch's resourceVersion as a precondition", async () => {
    await core.createNamespacedPod({ namespace: "default", body: pod("j") });
    const viaJsonPatch = await core.patchNamespacedPod({
      name: "j",
      namespace: "default",
      body: [{ op: "add", path: "/metadata/labels/extra", value: "yes" }],
    });
    expect(viaJsonPatch.metadata?.labels).toEqual({ app: "j", extra: "yes" });
    expect(server.requests.at(-1)?.contentType).toBe("application/json-patch+json");
    const mp = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    const viaMerge = await core.patchNamespacedPod(
      { name: "j", namespace: "default", body: { metadata: { labels: { extra: null } } } },
      mp,
    );
    expect(viaMerge.metadata?.labels).toEqual({ app: "j" });
    const stale = { metadata: { resourceVersion: viaJsonPatch.metadata?.resourceVersion, labels: { x: "1" } } };
    expect(await statusOf(core.patchNamespacedPod({ name: "j", namespace: "default", body: stale }, mp))).toMatchObject(
      {
        code: 409,
        reason: "Conflict",
      },
    );
  });

  it("deletes a bound pod gracefully (deletionTimestamp, MODIFIED), then at once with grace 0 (DELETED)", async () => {
    await core.createNamespacedPod({
      namespace: "default",
      body: { ...pod("g", "node-1"), spec: { ...defined(pod("g", "node-1").spec), terminationGracePeriodSeconds: 45 } },
    });
    const w = await watchEvents("/api/v1/namespaces/default/pods", {
      resourceVersion: String(server.store.resourceVersion),
      fieldSelector: "spec.nodeName=node-1",
    });
    const terminating = await core.deleteNamespacedPod({ name: "g", namespace: "default" });
    expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(45);
    expect(terminating.metadata?.deletionTimestamp).toBeInstanceOf(Date);
    expect(terminating.metadata?.generation).toBe(2);
    const stored = server.store.get("pods", "default", "g");
    expect(stored?.metadata).toMatchObject({ deletionGracePeriodSeconds: 45 });
    // A longer grace period changes nothing; a wrong uid precondition is a 409.
    const again = await core.deleteNamespacedPod({ name: "g", namespace: "default", gracePeriodSeconds: 60 });
    expect(again.metadata?.resourceVersion).toBe(terminating.metadata?.resourceVersion);
    expect(
      await statusOf(
        core.deleteNamespacedPod({ name: "g", namespace: "default", body: { preconditions: { uid: "other" } } }),
      ),
    ).toMatchObject({ code: 409, reason: "Conflict" });
    // The kubelet, its containers gone: grace 0 with the pod's uid as precondition.
    const uid = String(stored?.metadata && (stored.metadata as JsonObject).uid);
    await core.deleteNamespacedPod({
      name: "g",
      namespace: "default",
      body: { gracePeriodSeconds: 0, preconditions: { uid } },
    });
    expect(server.store.get("pods", "default", "g")).toBeUndefined();
    await eventually(() => w.events.length >= 2, "two events");
    expect(w.events.map((e) => e.type)).toEqual(["MODIFIED", "DELETED"]);
    expect(defined(w.events[0]).object).toMatchObject({ metadata: { deletionGracePeriodSeconds: 45 } });
    w.stop();
  });

  it("registers a Node with its status and patches node status addresses by type", async () => {
    const node = await core.createNode({
      body: {
        metadata: { name: "node-1" },
        status: {
          conditions: [{ type: "Ready", status: "False", reason: "KubeletNotReady" }],
          addresses: [
            { type: "InternalIP", address: "10.0.0.1" },
            { type: "Hostname", address: "node-1" },
          ],
        },
      },
    });
    expect(node.status?.conditions?.[0]?.status).toBe("False");
    const smp = setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch);
    const patched = await core.patchNodeStatus(
      {
        name: "node-1",
        body: {
          status: {
            conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }],
            addresses: [{ type: "InternalIP", address: "10.0.0.2" }],
          },
        },
      },
      smp,
    );
    expect(patched.status?.addresses).toEqual([
      { type: "InternalIP", address: "10.0.0.2" },
      { type: "Hostname", address: "node-1" },
    ]);
    expect(patched.status?.conditions?.map((c) => c.status)).toEqual(["True"]);
    const unscheduled = await core.patchNode(
      { name: "node-1", body: { spec: { unschedulable: true }, status: { conditions: [] } } },
      smp,
    );
    expect(unscheduled.spec?.unschedulable).toBe(true);
    expect(unscheduled.status?.conditions).toHaveLength(1);
    expect(await core.deleteNode({ name: "node-1" })).toMatchObject({ status: "Success", details: { kind: "nodes" } });
  });

  it("creates and renews a Lease in kube-node-lease; renewing needs its resourceVersion", async () => {
    const lease = await coordination.createNamespacedLease({
      namespace: "kube-node-lease",
      body: { metadata: { name: "node-1" }, spec: { holderIdentity: "node-1", leaseDurationSeconds: 40 } },
    });
    // A MicroTime needs six fractional digits: client-node's V1MicroTime writes them, a plain Date does not.
    const millis = await statusOf(
      coordination.replaceNamespacedLease({
        name: "node-1",
        namespace: "kube-node-lease",
        body: { ...lease, spec: { ...lease.spec, renewTime: new Date("2026-12-02T10:00:00Z") } },
      }),
    );
    expect(millis).toMatchObject({ code: 400, reason: "BadRequest" });
    expect(millis.message).toContain('cannot parse ".000Z" as ".000000"');
    const renewTime = new V1MicroTime("2026-12-02T10:00:00Z");
    const renewed = await coordination.replaceNamespacedLease({
      name: "node-1",
      namespace: "kube-node-lease",
      body: { ...lease, spec: { ...lease.spec, renewTime } },
    });
    // client-node does not turn a MicroTime back into a Date: it reads the string.
    expect(renewed.spec?.renewTime).toBe("2026-12-02T10:00:00.000000Z");
    expect(
      await statusOf(
        coordination.replaceNamespacedLease({ name: "node-1", namespace: "kube-node-lease", body: lease }),
      ),
    ).toMatchObject({
      code: 409,
      message: expect.stringMatching(/^Operation cannot be fulfilled on leases\.coordination\.k8s\.io "node-1"/),
      details: { group: "coordination.k8s.io", kind: "leases" },
    });
    const { resourceVersion: _, ...unversioned } = defined(renewed.metadata);
    expect(
      await statusOf(
        coordination.replaceNamespacedLease({
          name: "node-1",
          namespace: "kube-node-lease",
          body: { ...renewed, metadata: unversioned },
        }),
      ),
    ).toMatchObject({ code: 422, reason: "Invalid" });
    expect(server.store.get("leases", "kube-node-lease", "node-1")?.spec).toMatchObject({ holderIdentity: "node-1" });
  });

  it("stores events for assertions and fails injected requests with the Status of their code", async () => {
    await core.createNamespacedEvent({
      namespace: "default",
      body: {
        metadata: { generateName: "web." },
        involvedObject: { kind: "Pod", namespace: "default", name: "web" },
        reason: "Started",
        message: "Started container app",
        type: "Normal",
      },
    });
    const [event] = server.store.list("events", "default");
    expect(event).toMatchObject({ reason: "Started", metadata: { name: expect.stringMatching(/^web\.[a-z0-9]{5}$/) } });

    server.failNext(2, 503, { method: "GET", path: "/api/v1/namespaces/default/pods" });
    expect(await statusOf(core.listNamespacedPod({ namespace: "default" }))).toMatchObject({
      code: 503,
      reason: "ServiceUnavailable",
    });
    await expect(core.listNamespacedEvent({ namespace: "default" })).resolves.toMatchObject({ kind: "EventList" });
    expect(await statusOf(core.listNamespacedPod({ namespace: "default" }))).toMatchObject({ code: 503 });
    await expect(core.listNamespacedPod({ namespace: "default" })).resolves.toMatchObject({ kind: "PodList" });
  });
});
