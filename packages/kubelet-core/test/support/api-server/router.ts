// Maps a request's method and path to the registry, the lists and the watches:
//   /api/v1/{resource}[/{name}[/{subresource}]]                       cluster-scoped, or all namespaces
//   /api/v1/namespaces/{namespace}/{resource}[/{name}[/{subresource}]]
//   /apis/{group}/{version}/…                                           the same for a group
//   /api/v1/watch/…                                                     the old watch prefix
// plus /api, /apis, /version and the health endpoints.
import type { IncomingMessage, ServerResponse } from "node:http";
import { defined } from "../defined.js";
import { clone, isObject, type Json, type JsonObject, meta, str } from "./json.js";
import type { DeleteOptions, Registry } from "./registry.js";
import { apiVersionOf, RESOURCES, type ResourceDef } from "./resources.js";
import { parseFieldSelector, parseLabelSelector } from "./selectors.js";
import { ApiError, badRequest, expired, invalid, methodNotSupported, notFound, pathNotFound } from "./status.js";
import type { InternalStore } from "./store.js";
import { type OpenWatch, startWatch } from "./watch.js";

export interface RouterOptions {
  store: InternalStore;
  registry: Registry;
  watchTimeoutSeconds: number;
  bookmarkIntervalMs: number;
  onWatch(watch: OpenWatch): void;
  onWatchClosed(watch: OpenWatch): void;
}

interface Target {
  resource: ResourceDef;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
  watchPrefix: boolean;
}

function parsePath(path: string): Target | "discovery" | undefined {
  const segments = path
    .split("/")
    .filter((s) => s !== "")
    .map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (segments[0] === "api" && segments[1] === "v1") {
    group = "";
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 3) {
    group = defined(segments[1]);
    if (![...RESOURCES.values()].some((r) => r.group === group && r.version === segments[2])) return undefined;
    rest = segments.slice(3);
  } else return undefined;
  if (rest.length === 0) return "discovery";
  const watchPrefix = rest[0] === "watch";
  if (watchPrefix) rest = rest.slice(1);
  const find = (name: string | undefined) =>
    [...RESOURCES.values()].find((r) => r.group === group && r.resource === name);
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3 && find(rest[2])?.namespaced) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const resource = find(rest[0]);
  if (!resource || rest.length > 3) return undefined;
  if (namespace !== undefined && !resource.namespaced) return undefined;
  return { resource, namespace, name: rest[1], subresource: rest[2], watchPrefix };
}

const isTrue = (v: string | undefined) => v === "true" || v === "1";

function toInt(value: string | undefined, what: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^-?\d+$/.test(value)) throw badRequest(`invalid value for ${what}: ${value}`);
  return Number(value);
}

interface ContinueToken {
  rv: number;
  start: string;
}

const encodeContinue = (t: ContinueToken) =>
  Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv: t.rv, start: t.start })).toString("base64url");

function decodeContinue(token: string): ContinueToken {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString());
    if (isObject(parsed as Json) && typeof (parsed as JsonObject).rv === "number") {
      const t = parsed as JsonObject;
      if (typeof t.start === "string") return { rv: t.rv as number, start: t.start };
    }
  } catch {}
  throw badRequest(`continue key is not valid: ${token}`);
}

export function createRouter(options: RouterOptions) {
  const { store, registry } = options;

  function matcher(r: ResourceDef, query: URLSearchParams) {
    const labels = parseLabelSelector(query.get("labelSelector") ?? undefined);
    const fieldNames = Object.keys(r.fields({ metadata: {} }));
    const fields = parseFieldSelector(query.get("fieldSelector") ?? undefined, fieldNames);
    return (o: JsonObject) => {
      const l = meta(o).labels;
      const labelMap: Record<string, string> = {};
      if (isObject(l)) for (const [k, v] of Object.entries(l)) if (typeof v === "string") labelMap[k] = v;
      return labels(labelMap) && fields(r.fields(o));
    };
  }

  function list(t: Target, query: URLSearchParams): JsonObject {
    const r = t.resource;
    const matches = matcher(r, query);
    const limit = toInt(query.get("limit") ?? undefined, "limit") ?? 0;
    const token = query.get("continue") ?? "";
    const rvParam = query.get("resourceVersion") ?? "";
    const match = query.get("resourceVersionMatch") ?? "";
    let at = store.resourceVersion;
    let start = "";
    if (token) {
      const c = decodeContinue(token);
      if (c.rv < store.compactedResourceVersion) {
        throw expired(
          "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
          { metadata: { continue: encodeContinue({ rv: store.resourceVersion, start: c.start }) } },
        );
      }
      at = c.rv;
      start = c.start;
    } else if (match === "Exact") {
      const wanted = toInt(rvParam, "resourceVersion");
      if (wanted === undefined || wanted === 0) {
        throw invalid({ group: "meta.k8s.io", kind: "ListOptions" }, "", [
          {
            type: "FieldValueForbidden",
            field: "resourceVersionMatch",
            text: 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
          },
        ]);
      }
      if (wanted < store.compactedResourceVersion)
        throw expired("The resourceVersion for the provided list is too old.");
      at = wanted;
    }
    if (!token && rvParam !== "" && rvParam !== "0") {
      const wanted = defined(toInt(rvParam, "resourceVersion"));
      if (wanted > store.resourceVersion) {
        throw new ApiError(
          504,
          "Timeout",
          `Timeout: Too large resource version: ${wanted}, current: ${store.resourceVersion}`,
          {
            causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
            retryAfterSeconds: 1,
          },
        );
      }
    }
    const state = store.stateAt(r, at);
    const selected: [string, JsonObject][] = [];
    for (const [key, o] of state) {
      if (key <= start) continue;
      if (t.namespace !== undefined && meta(o).namespace !== t.namespace) continue;
      if (matches(o)) selected.push([key, o]);
    }
    const page = limit > 0 ? selected.slice(0, limit) : selected;
    const remaining = selected.length - page.length;
    const listMeta: JsonObject = { resourceVersion: String(at) };
    if (remaining > 0) {
      listMeta.continue = encodeContinue({ rv: at, start: defined(page[page.length - 1])[0] });
      if (!query.get("labelSelector") && !query.get("fieldSelector")) listMeta.remainingItemCount = remaining;
    }
    return {
      kind: `${r.kind}List`,
      apiVersion: apiVersionOf(r),
      metadata: listMeta,
      items: page.map(([, o]) => {
        const { kind: _k, apiVersion: _a, ...item } = clone(o);
        return item;
      }),
    };
  }

  function watch(t: Target, query: URLSearchParams, res: ServerResponse) {
    const r = t.resource;
    const matches = matcher(r, query);
    const sendInitial = query.get("sendInitialEvents");
    const bookmarks = isTrue(query.get("allowWatchBookmarks") ?? undefined);
    const rvMatch = query.get("resourceVersionMatch") ?? "";
    if (sendInitial !== null && sendInitial !== "") {
      const errors = [];
      if (rvMatch !== "NotOlderThan") {
        errors.push({
          type: "FieldValueForbidden",
          field: "resourceVersionMatch",
          text: "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        });
      }
      if (isTrue(sendInitial) && !bookmarks) {
        errors.push({
          type: "FieldValueRequired",
          field: "allowWatchBookmarks",
          text: "Required value: allowWatchBookmarks must be set to true when sendInitialEvents is set",
        });
      }
      if (errors.length > 0) throw invalid({ group: "meta.k8s.io", kind: "ListOptions" }, "", errors);
    } else if (rvMatch !== "") {
      throw invalid({ group: "meta.k8s.io", kind: "ListOptions" }, "", [
        {
          type: "FieldValueForbidden",
          field: "resourceVersionMatch",
          text: "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        },
      ]);
    }
    const timeoutSeconds = toInt(query.get("timeoutSeconds") ?? undefined, "timeoutSeconds");
    const rv = query.get("resourceVersion") ?? undefined;
    if (rv !== undefined && rv !== "") toInt(rv, "resourceVersion");
    const opened = startWatch(
      store,
      {
        resource: r,
        namespace: t.namespace,
        matches,
        resourceVersion: rv,
        sendInitialEvents: sendInitial === null || sendInitial === "" ? undefined : isTrue(sendInitial),
        allowWatchBookmarks: bookmarks,
        timeoutMs: (timeoutSeconds && timeoutSeconds > 0 ? timeoutSeconds : options.watchTimeoutSeconds) * 1000,
        bookmarkIntervalMs: options.bookmarkIntervalMs,
      },
      res,
      options.onWatchClosed,
    );
    options.onWatch(opened);
  }

  function deleteOptions(body: Json, query: URLSearchParams): DeleteOptions {
    const o: DeleteOptions = {};
    if (isObject(body)) {
      if (typeof body.gracePeriodSeconds === "number") o.gracePeriodSeconds = body.gracePeriodSeconds;
      if (isObject(body.preconditions)) {
        const uid = str(body.preconditions.uid);
        const rv = str(body.preconditions.resourceVersion);
        o.preconditions = {
          ...(uid !== undefined ? { uid } : {}),
          ...(rv !== undefined ? { resourceVersion: rv } : {}),
        };
      }
    }
    const grace = toInt(query.get("gracePeriodSeconds") ?? undefined, "gracePeriodSeconds");
    if (grace !== undefined) o.gracePeriodSeconds = grace;
    return o;
  }

  /** Answers a request; returns the status code, or undefined when a watch took over the response. */
  function route(
    req: IncomingMessage,
    url: URL,
    body: Json,
    res: ServerResponse,
  ): { code: number; body: Json | string } | undefined {
    const method = req.method ?? "GET";
    const path = url.pathname;
    if (path === "/version") {
      return {
        code: 200,
        body: { major: "1", minor: "34", gitVersion: "v1.34.0-nodekit-test", platform: "linux/amd64" },
      };
    }
    if (path === "/healthz" || path === "/livez" || path === "/readyz") return { code: 200, body: "ok" };
    if (path === "/api")
      return { code: 200, body: { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] } };
    if (path === "/apis") {
      const groups = [...new Set([...RESOURCES.values()].filter((r) => r.group).map((r) => `${r.group}/${r.version}`))];
      return {
        code: 200,
        body: {
          kind: "APIGroupList",
          apiVersion: "v1",
          groups: groups.map((gv) => {
            const [name, version] = gv.split("/") as [string, string];
            const v = { groupVersion: gv, version };
            return { name, versions: [v], preferredVersion: v };
          }),
        },
      };
    }
    const target = parsePath(path);
    if (target === undefined) throw pathNotFound();
    if (target === "discovery") {
      const gv = path.startsWith("/api/") ? "v1" : path.split("/").slice(2, 4).join("/");
      const resources = [...RESOURCES.values()].filter((r) => apiVersionOf(r) === gv);
      return {
        code: 200,
        body: {
          kind: "APIResourceList",
          apiVersion: "v1",
          groupVersion: gv,
          resources: resources.flatMap((r) => [
            {
              name: r.resource,
              singularName: r.kind.toLowerCase(),
              namespaced: r.namespaced,
              kind: r.kind,
              verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
            },
            ...(r.hasStatus
              ? [
                  {
                    name: `${r.resource}/status`,
                    singularName: "",
                    namespaced: r.namespaced,
                    kind: r.kind,
                    verbs: ["get", "patch", "update"],
                  },
                ]
              : []),
          ]),
        },
      };
    }
    const t = target;
    const r = t.resource;
    const query = url.searchParams;
    if (
      t.subresource !== undefined &&
      !(t.subresource === "status" && r.hasStatus) &&
      !(t.subresource === "binding" && r.resource === "pods")
    ) {
      throw pathNotFound();
    }
    const isWatch = t.watchPrefix || isTrue(query.get("watch") ?? undefined);
    if (t.name === undefined) {
      if (method === "GET" && isWatch) {
        watch(t, query, res);
        return undefined;
      }
      if (method === "GET") return { code: 200, body: list(t, query) };
      if (method === "POST") {
        if (r.namespaced && t.namespace === undefined) throw methodNotSupported(r, "create");
        return { code: 201, body: registry.create(r, t.namespace, body) };
      }
      throw methodNotSupported(r, method.toLowerCase());
    }
    if (r.namespaced && t.namespace === undefined) throw pathNotFound();
    const name = t.name;
    if (t.subresource === "binding") {
      if (method !== "POST") throw methodNotSupported(r, method.toLowerCase());
      return { code: 201, body: registry.bind(defined(t.namespace), name, body) };
    }
    const status = t.subresource === "status";
    switch (method) {
      case "GET": {
        if (isWatch) {
          // A watch of one object is a watch of the collection filtered on its name.
          const q = new URLSearchParams(query);
          const selector = q.get("fieldSelector");
          q.set("fieldSelector", `metadata.name=${name}${selector ? `,${selector}` : ""}`);
          watch({ ...t, name: undefined }, q, res);
          return undefined;
        }
        const o = store.get(r.resource, t.namespace, name);
        if (!o) throw notFound(r, name);
        return { code: 200, body: o };
      }
      case "PUT": {
        const { object, created } = registry.update(r, t.namespace, name, body, status);
        return { code: created ? 201 : 200, body: object };
      }
      case "PATCH": {
        const contentType = defined((req.headers["content-type"] ?? "").split(";")[0])
          .trim()
          .toLowerCase();
        return { code: 200, body: registry.patch(r, t.namespace, name, contentType, body, status) };
      }
      case "DELETE":
        if (status) throw methodNotSupported(r, "delete");
        return { code: 200, body: registry.delete(r, t.namespace, name, deleteOptions(body, query)) };
      default:
        throw methodNotSupported(r, method.toLowerCase());
    }
  }

  return { route };
}
