// Create, update, patch and delete with kube-apiserver's generic registry rules (rest.BeforeCreate,
// BeforeUpdate, BeforeDelete and the resources' strategies) on top of the store.
import { randomBytes, randomUUID } from "node:crypto";
import { defined } from "../defined.js";
import { clone, deepEqual, isObject, type Json, type JsonObject, meta, readPath, str } from "./json.js";
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from "./patch.js";
import { apiVersionOf, type ResourceDef, resourceDef } from "./resources.js";
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  invalid,
  notFound,
  OPTIMISTIC_LOCK_MESSAGE,
  unsupportedMediaType,
} from "./status.js";
import { type InternalStore, keyOf, nowTimestamp } from "./store.js";

export const PATCH_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
] as const;

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface Registry {
  create(r: ResourceDef, namespace: string | undefined, body: Json): JsonObject;
  /** The object and whether the PUT created it. */
  update(
    r: ResourceDef,
    namespace: string | undefined,
    name: string,
    body: Json,
    status: boolean,
  ): { object: JsonObject; created: boolean };
  patch(
    r: ResourceDef,
    namespace: string | undefined,
    name: string,
    contentType: string,
    body: Json,
    status: boolean,
  ): JsonObject;
  /** The pod (graceful or not) or a Success Status for other resources. */
  delete(r: ResourceDef, namespace: string | undefined, name: string, options: DeleteOptions): JsonObject;
  bind(namespace: string, name: string, body: Json): JsonObject;
}

const GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
const generatedSuffix = () => [...randomBytes(5)].map((b) => GENERATE_NAME_ALPHABET[b % 27]).join("");

const kindOf = (r: ResourceDef) => ({ group: r.group, kind: r.kind });

function asObject(body: Json): JsonObject {
  if (!isObject(body)) throw badRequest("the body of the request must be a JSON object");
  return body;
}

function checkTypeMeta(r: ResourceDef, object: JsonObject) {
  const apiVersion = str(object.apiVersion);
  if (apiVersion !== undefined && apiVersion !== apiVersionOf(r)) {
    throw badRequest(
      `the API version in the data (${apiVersion}) does not match the expected API version (${apiVersionOf(r)})`,
    );
  }
  const kind = str(object.kind);
  if (kind !== undefined && kind !== r.kind) {
    throw badRequest(`the kind in the data (${kind}) does not match the expected kind (${r.kind})`);
  }
}

function checkNamespace(r: ResourceDef, object: JsonObject, namespace: string | undefined) {
  const m = meta(object);
  if (!r.namespaced) {
    delete m.namespace;
    return;
  }
  const given = str(m.namespace);
  if (given && given !== namespace) {
    throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
  }
  m.namespace = namespace ?? "";
}

const RFC3339_MICRO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

/** Refuses a MicroTime that is not RFC3339 with microseconds, as decoding the body does upstream. */
function checkMicroTimes(r: ResourceDef, object: JsonObject) {
  for (const path of r.microTimes ?? []) {
    const value = readPath(object, path);
    if (value === undefined || value === null) continue;
    if (typeof value !== "string" || !RFC3339_MICRO.test(value)) {
      const fraction = typeof value === "string" ? (/\.\d*(Z|[+-].*)?$/.exec(value)?.[0] ?? value) : String(value);
      throw badRequest(
        `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: parsing time "${String(value)}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${fraction}" as ".000000"`,
      );
    }
  }
}

export function createRegistry(store: InternalStore, options: { enforceNamespaces: boolean }): Registry {
  const namespaces = resourceDef("namespaces");

  function validate(r: ResourceDef, object: JsonObject, old: JsonObject | undefined) {
    const errors = r.validate?.(object, old) ?? [];
    if (errors.length > 0) throw invalid(kindOf(r), str(meta(object).name) ?? "", errors);
  }

  /** Removes an object whose deletion is complete; pods answer with the object, others with a Status. */
  function finishDelete(r: ResourceDef, existing: JsonObject): JsonObject {
    const deleted = store.write(r, "DELETED", clone(existing));
    if (r.resource === "pods") return clone(deleted);
    return {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Success",
      details: {
        name: str(meta(existing).name) ?? "",
        ...(r.group ? { group: r.group } : {}),
        kind: r.resource,
        uid: str(meta(existing).uid) ?? "",
      },
    };
  }

  const registry: Registry = {
    create(r, namespace, body) {
      const object = clone(asObject(body));
      checkTypeMeta(r, object);
      checkMicroTimes(r, object);
      checkNamespace(r, object, namespace);
      const m = meta(object);
      if (str(m.resourceVersion)) throw badRequest("resourceVersion should not be set on objects to be created");
      if (
        r.namespaced &&
        options.enforceNamespaces &&
        !store.raw(namespaces, keyOf(namespaces, undefined, namespace ?? ""))
      ) {
        throw notFound(namespaces, namespace ?? "");
      }
      if (!str(m.name) && str(m.generateName)) m.name = `${m.generateName}${generatedSuffix()}`;
      if (!str(m.name)) {
        throw invalid(kindOf(r), "", [
          {
            type: "FieldValueRequired",
            field: "metadata.name",
            text: "Required value: name or generateName is required",
          },
        ]);
      }
      const name = defined(str(m.name));
      if (store.raw(r, keyOf(r, namespace, name))) throw alreadyExists(r, name);
      object.apiVersion = apiVersionOf(r);
      object.kind = r.kind;
      m.uid = randomUUID();
      m.creationTimestamp = nowTimestamp();
      delete m.deletionTimestamp;
      delete m.deletionGracePeriodSeconds;
      if (r.generation) m.generation = 1;
      r.prepareForCreate?.(object);
      validate(r, object, undefined);
      return clone(store.write(r, "ADDED", object));
    },

    update(r, namespace, name, body, status) {
      const object = clone(asObject(body));
      checkTypeMeta(r, object);
      checkMicroTimes(r, object);
      const m = meta(object);
      if (str(m.name) !== name) {
        throw badRequest(`the name of the object (${str(m.name) ?? ""}) does not match the name on the URL (${name})`);
      }
      checkNamespace(r, object, namespace);
      const existing = store.raw(r, keyOf(r, namespace, name));
      if (!existing) {
        if (r.allowCreateOnUpdate && !status) {
          delete m.resourceVersion;
          return { object: registry.create(r, namespace, object), created: true };
        }
        throw notFound(r, name);
      }
      const old = meta(existing);
      const rv = str(m.resourceVersion);
      if (!rv) {
        if (!r.allowUnconditionalUpdate) {
          throw invalid(kindOf(r), name, [
            {
              type: "FieldValueInvalid",
              field: "metadata.resourceVersion",
              text: "Invalid value: 0: must be specified for an update",
            },
          ]);
        }
      } else if (rv !== old.resourceVersion) {
        throw conflict(r, name, OPTIMISTIC_LOCK_MESSAGE);
      }
      if (str(m.uid) && m.uid !== old.uid) {
        throw conflict(
          r,
          name,
          `Precondition failed: UID in precondition: ${String(m.uid)}, UID in object meta: ${String(old.uid)}`,
        );
      }
      object.apiVersion = apiVersionOf(r);
      object.kind = r.kind;
      if (r.hasStatus) {
        if (status) {
          object.spec = clone(existing.spec ?? null);
          if (existing.spec === undefined) delete object.spec;
          if (r.resource === "pods") {
            if (existing.metadata && isObject(existing.metadata) && existing.metadata.ownerReferences !== undefined) {
              m.ownerReferences = clone(existing.metadata.ownerReferences);
            } else delete m.ownerReferences;
            const qos = isObject(existing.status) ? existing.status.qosClass : undefined;
            if (isObject(object.status) && !object.status.qosClass && qos !== undefined) object.status.qosClass = qos;
          }
        } else {
          if (existing.status === undefined) delete object.status;
          else object.status = clone(existing.status);
        }
      }
      // Fields only the system sets.
      m.uid = old.uid ?? null;
      m.creationTimestamp = old.creationTimestamp ?? null;
      for (const k of ["generation", "deletionTimestamp"]) {
        if (old[k] === undefined) delete m[k];
        else m[k] = defined(old[k]);
      }
      if (old.deletionGracePeriodSeconds !== undefined) m.deletionGracePeriodSeconds = old.deletionGracePeriodSeconds;
      else delete m.deletionGracePeriodSeconds;
      if (r.generation && !deepEqual(object.spec, existing.spec)) m.generation = Number(old.generation ?? 0) + 1;
      validate(r, object, existing);
      m.resourceVersion = old.resourceVersion ?? null;
      if (deepEqual(object, existing)) return { object: clone(existing), created: false };
      const finalizers = m.finalizers;
      const graceless = old.deletionGracePeriodSeconds === undefined || old.deletionGracePeriodSeconds === 0;
      if (old.deletionTimestamp !== undefined && graceless && !(Array.isArray(finalizers) && finalizers.length > 0)) {
        // Its last finalizer gone, an object being deleted without grace goes at once (no MODIFIED first).
        store.write(r, "DELETED", clone(existing));
        return { object: clone(object), created: false };
      }
      return { object: clone(store.write(r, "MODIFIED", object)), created: false };
    },

    patch(r, namespace, name, contentType, body, status) {
      const existing = store.raw(r, keyOf(r, namespace, name));
      if (!existing) throw notFound(r, name);
      let patched: Json;
      switch (contentType) {
        case "application/merge-patch+json":
          patched = applyMergePatch(existing, body);
          break;
        case "application/strategic-merge-patch+json":
          patched = applyStrategicMergePatch(existing, body, r.patchSchema);
          break;
        case "application/json-patch+json":
          patched = applyJsonPatch(existing, body);
          break;
        default:
          throw unsupportedMediaType([...PATCH_TYPES, "application/apply-patch+yaml"]);
      }
      const object = asObject(patched);
      const m = meta(object);
      // A patch that names a resourceVersion must name the current one; one that does not applies unconditionally.
      const given = str(m.resourceVersion);
      if (given && given !== meta(existing).resourceVersion) throw conflict(r, name, OPTIMISTIC_LOCK_MESSAGE);
      m.resourceVersion = meta(existing).resourceVersion ?? null;
      if (str(m.name) !== name)
        throw badRequest(`the name of the object (${str(m.name) ?? ""}) does not match the name on the URL (${name})`);
      return registry.update(r, namespace, name, object, status).object;
    },

    delete(r, namespace, name, opts) {
      const existing = store.raw(r, keyOf(r, namespace, name));
      if (!existing) throw notFound(r, name);
      const m = meta(existing);
      const kindResource = { group: r.group, resource: r.kind };
      const pre = opts.preconditions;
      if (pre?.uid !== undefined && pre.uid !== m.uid) {
        throw conflict(
          kindResource,
          name,
          `the UID in the precondition (${pre.uid}) does not match the UID in record (${String(m.uid)}). The object might have been deleted and then recreated`,
        );
      }
      if (pre?.resourceVersion !== undefined && pre.resourceVersion !== m.resourceVersion) {
        throw conflict(
          kindResource,
          name,
          `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${String(m.resourceVersion)}). The object might have been modified`,
        );
      }
      const requested =
        opts.gracePeriodSeconds !== undefined && opts.gracePeriodSeconds < 0 ? 1 : opts.gracePeriodSeconds;
      const hasFinalizers = Array.isArray(m.finalizers) && m.finalizers.length > 0;
      let graceful = false;
      let period = 0;
      const next = clone(existing);
      const nm = meta(next);
      if (r.gracePeriod) {
        if (m.deletionTimestamp !== undefined) {
          const current = typeof m.deletionGracePeriodSeconds === "number" ? m.deletionGracePeriodSeconds : 0;
          if (current !== 0) {
            if (requested === undefined || requested >= current) return clone(existing); // pending, unchanged
            const base = Date.parse(String(m.deletionTimestamp)) - current * 1000;
            let at = base + requested * 1000;
            period = requested;
            if (at < Date.now()) {
              at = Date.now();
              if (period !== 0) period = 1;
            }
            nm.deletionTimestamp = new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z");
            nm.deletionGracePeriodSeconds = period;
            graceful = true;
          }
        } else {
          period = r.gracePeriod(existing, requested);
          nm.deletionTimestamp = new Date(Date.now() + period * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
          nm.deletionGracePeriodSeconds = period;
          if (typeof nm.generation === "number" && nm.generation > 0) nm.generation += 1;
          graceful = true;
        }
      }
      if (graceful && (period > 0 || hasFinalizers)) return clone(store.write(r, "MODIFIED", next));
      if (hasFinalizers) {
        if (m.deletionTimestamp !== undefined) return clone(existing);
        nm.deletionTimestamp = nowTimestamp();
        nm.deletionGracePeriodSeconds = 0;
        return clone(store.write(r, "MODIFIED", next));
      }
      return finishDelete(r, existing);
    },

    bind(namespace, name, body) {
      const pods = resourceDef("pods");
      const binding = asObject(body);
      const target = isObject(binding.target) ? str(binding.target.name) : undefined;
      if (!target) {
        throw invalid({ group: "", kind: "Binding" }, name, [
          { type: "FieldValueRequired", field: "target.name", text: "Required value" },
        ]);
      }
      const existing = store.raw(pods, keyOf(pods, namespace, name));
      if (!existing) throw notFound(pods, name);
      if (meta(existing).deletionTimestamp !== undefined)
        throw conflict(pods, name, "pod is being deleted, cannot be assigned to a host");
      const node = isObject(existing.spec) ? str(existing.spec.nodeName) : undefined;
      if (node) throw conflict(pods, name, `pod ${name} is already assigned to node "${node}"`);
      const next = clone(existing);
      if (isObject(next.spec)) next.spec.nodeName = target;
      store.write(pods, "MODIFIED", next);
      return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 };
    },
  };
  return registry;
}

export { ApiError };
