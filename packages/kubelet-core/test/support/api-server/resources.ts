// The resources the server serves and, for each, what kube-apiserver's registry strategy does:
// which fields a create resets, what an update or a status update may change, defaults, the fields
// a field selector may name, strategic-merge-patch metadata, graceful deletion.
import { child, clone, deepEqual, isObject, type Json, type JsonObject, meta, readPath, str } from "./json.js";
import type { PatchField, PatchSchema } from "./patch.js";
import type { FieldError } from "./status.js";

export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, lower case: `pods`. */
  resource: string;
  kind: string;
  namespaced: boolean;
  /** Has a `/status` subresource whose updates change only status (and the main resource's never do). */
  hasStatus: boolean;
  /** A PUT to a missing object creates it. */
  allowCreateOnUpdate: boolean;
  /** A PUT without `metadata.resourceVersion` is accepted (else 422, resourceVersion must be specified). */
  allowUnconditionalUpdate: boolean;
  /** Field selector labels the resource supports, with their values. */
  fields(object: JsonObject): Record<string, string>;
  patchSchema: PatchSchema;
  /** Resets and defaults applied to a created object. */
  prepareForCreate?(object: JsonObject): void;
  /** Validation of a created or updated object (after defaults). */
  validate?(object: JsonObject, old: JsonObject | undefined): FieldError[];
  /**
   * metav1.MicroTime fields: kube-apiserver parses them with exactly six fractional digits
   * (RFC3339Micro) and refuses the body otherwise.
   */
  microTimes?: readonly string[];
  /** Tracks spec changes in `metadata.generation`. */
  generation: boolean;
  /** The grace period of a delete without one; 0 deletes at once. Only pods delete gracefully. */
  gracePeriod?(object: JsonObject, requested: number | undefined): number;
}

export const apiVersionOf = (r: ResourceDef) => (r.group ? `${r.group}/${r.version}` : r.version);

const metadataPatch: PatchField = {
  fields: { finalizers: { strategy: "merge" }, ownerReferences: { strategy: "merge", mergeKey: "uid" } },
};
const byName = (fields?: PatchSchema): PatchField => ({
  strategy: "merge",
  mergeKey: "name",
  ...(fields ? { fields } : {}),
});
const container: PatchSchema = {
  ports: { strategy: "merge", mergeKey: "containerPort" },
  env: byName(),
  volumeMounts: { strategy: "merge", mergeKey: "mountPath" },
  volumeDevices: { strategy: "merge", mergeKey: "devicePath" },
};

/** k8s.io/api core/v1 Pod's patch strategies (types.go `patchStrategy`/`patchMergeKey` tags). */
export const podPatchSchema: PatchSchema = {
  metadata: metadataPatch,
  spec: {
    fields: {
      containers: byName(container),
      initContainers: byName(container),
      ephemeralContainers: byName(container),
      volumes: byName(),
      imagePullSecrets: byName(),
      hostAliases: { strategy: "merge", mergeKey: "ip" },
      topologySpreadConstraints: { strategy: "merge", mergeKey: "topologyKey" },
      schedulingGates: byName(),
      resourceClaims: byName(),
    },
  },
  status: {
    fields: {
      conditions: { strategy: "merge", mergeKey: "type" },
      podIPs: { strategy: "merge", mergeKey: "ip" },
      hostIPs: { strategy: "merge", mergeKey: "ip" },
      resourceClaimStatuses: byName(),
      // containerStatuses, initContainerStatuses, ephemeralContainerStatuses: no strategy, replaced whole.
    },
  },
};

export const nodePatchSchema: PatchSchema = {
  metadata: metadataPatch,
  spec: { fields: { podCIDRs: { strategy: "merge" } } },
  status: {
    fields: {
      conditions: { strategy: "merge", mergeKey: "type" },
      addresses: { strategy: "merge", mergeKey: "type" },
    },
  },
};

const text = (value: Json | undefined) => (value === undefined || value === null ? "" : String(value));

const objectMetaFields = (object: JsonObject, namespaced: boolean): Record<string, string> => ({
  "metadata.name": text(readPath(object, "metadata.name")),
  ...(namespaced ? { "metadata.namespace": text(readPath(object, "metadata.namespace")) } : {}),
});

function defaultContainer(c: Json) {
  if (!isObject(c)) return;
  c.terminationMessagePath ??= "/dev/termination-log";
  c.terminationMessagePolicy ??= "File";
  if (c.imagePullPolicy === undefined) {
    const image = str(c.image) ?? "";
    const tag = image.includes("@") ? "digest" : (/:([^/:]+)$/.exec(image)?.[1] ?? "latest");
    c.imagePullPolicy = tag === "latest" ? "Always" : "IfNotPresent";
  }
  c.resources ??= {};
}

/** The pod's QoS class from its containers' requests and limits (kube's qos.GetPodQOS, simplified to cpu and memory). */
function qosClass(spec: JsonObject): string {
  const containers = [spec.containers, spec.initContainers].flatMap((l) => (Array.isArray(l) ? l : []));
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    if (!isObject(c)) continue;
    const resources = isObject(c.resources) ? c.resources : {};
    const limits = isObject(resources.limits) ? resources.limits : {};
    const requests = isObject(resources.requests) ? resources.requests : {};
    for (const name of ["cpu", "memory"]) {
      const limit = limits[name];
      const request = requests[name] ?? limit;
      if (limit !== undefined || request !== undefined) any = true;
      if (limit === undefined || request !== limit) guaranteed = false;
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

const podUpdatableSpec = (spec: Json | undefined): Json => {
  if (!isObject(spec)) return spec ?? null;
  const masked = clone(spec);
  for (const list of ["containers", "initContainers"]) {
    const items = masked[list];
    if (Array.isArray(items)) for (const c of items) if (isObject(c)) delete c.image;
  }
  delete masked.activeDeadlineSeconds;
  delete masked.tolerations;
  delete masked.terminationGracePeriodSeconds;
  return masked;
};

const pods: ResourceDef = {
  group: "",
  version: "v1",
  resource: "pods",
  kind: "Pod",
  namespaced: true,
  hasStatus: true,
  allowCreateOnUpdate: false,
  allowUnconditionalUpdate: true,
  generation: true,
  fields: (pod) => ({
    ...objectMetaFields(pod, true),
    "spec.nodeName": text(readPath(pod, "spec.nodeName")),
    "spec.restartPolicy": text(readPath(pod, "spec.restartPolicy")),
    "spec.schedulerName": text(readPath(pod, "spec.schedulerName")),
    "spec.serviceAccountName": text(readPath(pod, "spec.serviceAccountName")),
    "spec.hostNetwork": text(readPath(pod, "spec.hostNetwork") ?? false),
    "status.phase": text(readPath(pod, "status.phase")),
    "status.podIP": text(readPath(pod, "status.podIP")),
    "status.nominatedNodeName": text(readPath(pod, "status.nominatedNodeName")),
  }),
  patchSchema: podPatchSchema,
  prepareForCreate(pod) {
    const spec = child(pod, "spec");
    spec.restartPolicy ??= "Always";
    spec.terminationGracePeriodSeconds ??= 30;
    spec.dnsPolicy ??= "ClusterFirst";
    spec.schedulerName ??= "default-scheduler";
    spec.securityContext ??= {};
    spec.enableServiceLinks ??= true;
    spec.priority ??= 0;
    spec.preemptionPolicy ??= "PreemptLowerPriority";
    for (const list of ["containers", "initContainers"]) {
      const items = spec[list];
      if (Array.isArray(items)) items.forEach(defaultContainer);
    }
    // The registry drops any status a create carries.
    pod.status = { phase: "Pending", qosClass: qosClass(spec) };
  },
  validate(pod, old) {
    const errors: FieldError[] = [];
    const spec = isObject(pod.spec) ? pod.spec : {};
    const containers = spec.containers;
    if (!Array.isArray(containers) || containers.length === 0) {
      errors.push({ type: "FieldValueRequired", field: "spec.containers", text: "Required value" });
    } else {
      containers.forEach((c, i) => {
        if (!isObject(c) || !str(c.name)) {
          errors.push({ type: "FieldValueRequired", field: `spec.containers[${i}].name`, text: "Required value" });
        }
        if (!isObject(c) || !str(c.image)) {
          errors.push({ type: "FieldValueRequired", field: `spec.containers[${i}].image`, text: "Required value" });
        }
      });
    }
    if (old && !deepEqual(podUpdatableSpec(pod.spec), podUpdatableSpec(old.spec))) {
      errors.push({
        type: "FieldValueForbidden",
        field: "spec",
        text:
          "Forbidden: pod updates may not change fields other than `spec.containers[*].image`," +
          "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)," +
          "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
      });
    }
    return errors;
  },
  gracePeriod(pod, requested) {
    let period =
      requested ??
      (typeof readPath(pod, "spec.terminationGracePeriodSeconds") === "number"
        ? (readPath(pod, "spec.terminationGracePeriodSeconds") as number)
        : 0);
    if (!str(readPath(pod, "spec.nodeName"))) period = 0;
    const phase = readPath(pod, "status.phase");
    if (phase === "Succeeded" || phase === "Failed") period = 0;
    return period < 0 ? 1 : period;
  },
};

const nodes: ResourceDef = {
  group: "",
  version: "v1",
  resource: "nodes",
  kind: "Node",
  namespaced: false,
  hasStatus: true,
  allowCreateOnUpdate: false,
  allowUnconditionalUpdate: true,
  generation: false,
  fields: (node) => ({
    ...objectMetaFields(node, false),
    "spec.unschedulable": text(readPath(node, "spec.unschedulable") ?? false),
  }),
  patchSchema: nodePatchSchema,
  // Nodes keep every field on create, status included (the kubelet registers with its status).
};

const leases: ResourceDef = {
  group: "coordination.k8s.io",
  version: "v1",
  resource: "leases",
  kind: "Lease",
  namespaced: true,
  hasStatus: false,
  allowCreateOnUpdate: true,
  allowUnconditionalUpdate: false,
  generation: false,
  fields: (lease) => objectMetaFields(lease, true),
  microTimes: ["spec.acquireTime", "spec.renewTime"],
  patchSchema: { metadata: metadataPatch },
};

const events: ResourceDef = {
  group: "",
  version: "v1",
  resource: "events",
  kind: "Event",
  namespaced: true,
  hasStatus: false,
  allowCreateOnUpdate: true,
  allowUnconditionalUpdate: true,
  generation: false,
  microTimes: ["eventTime", "series.lastObservedTime"],
  fields: (event) => ({
    ...objectMetaFields(event, true),
    "involvedObject.kind": text(readPath(event, "involvedObject.kind")),
    "involvedObject.namespace": text(readPath(event, "involvedObject.namespace")),
    "involvedObject.name": text(readPath(event, "involvedObject.name")),
    "involvedObject.uid": text(readPath(event, "involvedObject.uid")),
    "involvedObject.apiVersion": text(readPath(event, "involvedObject.apiVersion")),
    "involvedObject.resourceVersion": text(readPath(event, "involvedObject.resourceVersion")),
    "involvedObject.fieldPath": text(readPath(event, "involvedObject.fieldPath")),
    reason: text(event.reason),
    reportingComponent: text(event.reportingComponent),
    source: text(readPath(event, "source.component")),
    type: text(event.type),
  }),
  patchSchema: { metadata: metadataPatch },
};

const namespaces: ResourceDef = {
  group: "",
  version: "v1",
  resource: "namespaces",
  kind: "Namespace",
  namespaced: false,
  hasStatus: true,
  allowCreateOnUpdate: false,
  allowUnconditionalUpdate: true,
  generation: false,
  fields: (ns) => ({ ...objectMetaFields(ns, false), "status.phase": text(readPath(ns, "status.phase")) }),
  patchSchema: { metadata: metadataPatch },
  prepareForCreate(ns) {
    const labels = child(meta(ns), "labels");
    labels["kubernetes.io/metadata.name"] = str(meta(ns).name) ?? "";
    ns.spec = { finalizers: ["kubernetes"] };
    ns.status = { phase: "Active" };
  },
};

/** Every resource served, by plural name. */
export const RESOURCES: ReadonlyMap<string, ResourceDef> = new Map(
  [pods, nodes, leases, events, namespaces].map((r) => [r.resource, r]),
);

export function resourceDef(resource: string): ResourceDef {
  const def = RESOURCES.get(resource);
  if (!def) throw new Error(`unknown resource ${resource}; served: ${[...RESOURCES.keys()].join(", ")}`);
  return def;
}
