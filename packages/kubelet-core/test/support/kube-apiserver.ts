// A local Kubernetes API server for the node agent's tests: HTTPS with a bearer token, the
// resources a kubelet uses (pods and pods/status, nodes and nodes/status, leases, events), one
// global resourceVersion, list with field and label selectors, chunked watch streams with
// bookmarks and 410 Gone for an expired resourceVersion, optimistic concurrency (409 on a stale
// resourceVersion or uid precondition), graceful pod deletion, and merge / strategic merge patches
// (the parts the kubelet sends). `@kubernetes/client-node` talks to it unchanged.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";

// biome-ignore lint/suspicious/noExplicitAny: JSON objects of any kind, read and written field by field
type Obj = Record<string, any>;

/** A request the server answered, for assertions. */
export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  body: unknown;
  status: number;
}

/** Where an object lives: its resource (`pods`, `nodes`, `leases`, `events`), namespace and name. */
export interface ObjectKey {
  resource: string;
  namespace?: string | undefined;
  name: string;
}

/** The test API server. */
export interface TestApiServer {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** A client-node KubeConfig for this server (CA and token set). */
  kubeConfig(): KubeConfig;
  /** The same as a kubeconfig file's text. */
  kubeConfigYaml(): string;
  /** An object as stored, or undefined. */
  get(key: ObjectKey): Obj | undefined;
  /** Objects of a resource (optionally one namespace). */
  list(resource: string, namespace?: string): Obj[];
  /** Creates or replaces an object directly (as another client would), bumping its resourceVersion. */
  put(key: ObjectKey, object: Obj): Obj;
  /** Deletes as the API would for a client: pods gracefully unless `gracePeriodSeconds` is 0. */
  delete(key: ObjectKey, gracePeriodSeconds?: number): void;
  /** Forgets the watch history: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Ends every open watch stream abruptly. */
  breakWatches(): void;
  /** Fails the next `times` requests matching `match` with `status`. */
  failNext(times: number, status: number, match?: (method: string, path: string) => boolean): void;
  /** Drops the failures still pending. */
  clearFailures(): void;
  /** Every request answered, in order. */
  readonly requests: LoggedRequest[];
  /** The number of watch streams open now. */
  readonly openWatches: number;
  /** Resolves once `predicate` holds (checked on every write and every 20 ms), rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Ends the watches and the server. */
  close(): Promise<void>;
}

const TOKEN = "nodekit-test-token";
const certDir = new URL(".", import.meta.url).pathname;

const MERGE_KEYS: Record<string, string> = {
  conditions: "type",
  containerStatuses: "name",
  initContainerStatuses: "name",
  ephemeralContainerStatuses: "name",
  podIPs: "ip",
  hostIPs: "ip",
  addresses: "type",
  containers: "name",
  initContainers: "name",
  ownerReferences: "uid",
  tolerations: "key",
};

const isObj = (v: unknown): v is Obj => v !== null && typeof v === "object" && !Array.isArray(v);
const clone = <T>(v: T): T => structuredClone(v);
const now = () => `${new Date().toISOString().slice(0, 19)}Z`;

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** A strategic merge patch, for the directives the kubelet sends ($setElementOrder, $patch: delete, merge keys). */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$setElementOrder/") || k === "$patch") continue;
    if (v === null) {
      delete out[k];
      continue;
    }
    const key = MERGE_KEYS[k];
    if (key && Array.isArray(v)) {
      const list: Obj[] = Array.isArray(out[k]) ? clone(out[k]) : [];
      for (const e of v as Obj[]) {
        const i = list.findIndex((x) => x[key] === e[key]);
        if (e.$patch === "delete") {
          if (i >= 0) list.splice(i, 1);
        } else if (i >= 0) list[i] = strategicMergePatch(list[i], e) as Obj;
        else list.push(strategicMergePatch({}, e) as Obj);
      }
      const order = patch[`$setElementOrder/${k}`] as Obj[] | undefined;
      if (order) {
        const rank = new Map(order.map((o, n) => [o[key], n]));
        list.sort((a, b) => (rank.get(a[key]) ?? 1e9) - (rank.get(b[key]) ?? 1e9));
      }
      out[k] = list;
    } else out[k] = strategicMergePatch(out[k], v);
  }
  return out;
}

const statusOf = (code: number, reason: string, message: string, details?: Obj): Obj => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  reason,
  ...(details ? { details } : {}),
  code,
});

/** A field of an object by dotted path (`spec.nodeName`). */
const field = (o: Obj, path: string): string => {
  let v: unknown = o;
  for (const p of path.split(".")) v = isObj(v) ? v[p] : undefined;
  return v === undefined || v === null ? "" : String(v);
};

function matches(o: Obj, query: Record<string, string>): boolean {
  for (const part of (query.fieldSelector ?? "").split(",").filter(Boolean)) {
    const [k, v] = part.includes("!=") ? part.split("!=") : part.split(/==?/);
    const neg = part.includes("!=");
    if ((field(o, k!) === v) === neg) return false;
  }
  for (const part of (query.labelSelector ?? "").split(",").filter(Boolean)) {
    const [k, v] = part.split(/==?/);
    const labels = o.metadata?.labels ?? {};
    if (v === undefined ? !(k! in labels) : labels[k!] !== v) return false;
  }
  return true;
}

/**
 * Starts the server on 127.0.0.1 (a free port).
 *
 * @example
 * ```ts
 * const api = await startTestApiServer();
 * const core = api.kubeConfig().makeApiClient(CoreV1Api);
 * ```
 */
export async function startTestApiServer(
  options: { bookmarkIntervalMs?: number; historySize?: number } = {},
): Promise<TestApiServer> {
  const store = new Map<string, Obj>();
  let rv = 100;
  let compactedBelow = 0;
  const history: { rv: number; resource: string; type: string; object: Obj }[] = [];
  const historySize = options.historySize ?? 10_000;
  const watches = new Set<{ resource: string; query: Record<string, string>; res: ServerResponse }>();
  const requests: LoggedRequest[] = [];
  const failures: { times: number; status: number; match: (m: string, p: string) => boolean }[] = [];
  const waiters = new Set<() => void>();
  const cert = readFileSync(`${certDir}/apiserver.crt`);

  const keyOf = (k: ObjectKey) => `${k.resource}/${k.namespace ?? ""}/${k.name}`;
  const emit = (resource: string, type: string, object: Obj) => {
    history.push({ rv, resource, type, object: clone(object) });
    if (history.length > historySize) history.shift();
    for (const w of watches) {
      if (w.resource !== resource) continue;
      if (w.query.namespace && object.metadata?.namespace !== w.query.namespace) continue;
      if (!matches(object, w.query)) continue;
      w.res.write(`${JSON.stringify({ type, object })}\n`);
    }
    for (const w of waiters) w();
  };
  const write = (key: ObjectKey, object: Obj, type: "ADDED" | "MODIFIED"): Obj => {
    rv++;
    object.metadata = { ...object.metadata, resourceVersion: String(rv) };
    store.set(keyOf(key), object);
    emit(key.resource, type, object);
    return object;
  };
  const remove = (key: ObjectKey) => {
    const o = store.get(keyOf(key));
    if (!o) return;
    store.delete(keyOf(key));
    rv++;
    o.metadata.resourceVersion = String(rv);
    emit(key.resource, "DELETED", o);
  };
  const kindOf: Record<string, [string, string]> = {
    pods: ["Pod", "v1"],
    nodes: ["Node", "v1"],
    events: ["Event", "v1"],
    leases: ["Lease", "coordination.k8s.io/v1"],
  };
  const create = (key: ObjectKey, body: Obj): Obj => {
    const [kind, apiVersion] = kindOf[key.resource]!;
    const o: Obj = {
      ...clone(body),
      kind,
      apiVersion,
      metadata: {
        ...clone(body.metadata ?? {}),
        name: key.name,
        ...(key.namespace ? { namespace: key.namespace } : {}),
        uid: randomUUID(),
        creationTimestamp: now(),
        ...(key.resource === "pods" ? { generation: 1 } : {}),
      },
    };
    delete o.metadata.resourceVersion;
    return write(key, o, "ADDED");
  };
  const deleteObject = (key: ObjectKey, grace: number | undefined, pre?: Obj): Obj | undefined => {
    const o = store.get(keyOf(key));
    if (!o) return undefined;
    if (pre?.uid && pre.uid !== o.metadata.uid) throw conflictUid(key, pre.uid, o.metadata.uid);
    const g = grace ?? o.spec?.terminationGracePeriodSeconds ?? 30;
    if (key.resource === "pods" && g > 0 && o.spec?.nodeName && !o.status?.phase?.match(/Succeeded|Failed/)) {
      if (o.metadata.deletionTimestamp) return o;
      const next = clone(o);
      next.metadata.deletionTimestamp = now();
      next.metadata.deletionGracePeriodSeconds = g;
      return write(key, next, "MODIFIED");
    }
    remove(key);
    return o;
  };

  class HttpError extends Error {
    constructor(readonly status: Obj) {
      super(status.message);
    }
  }
  const notFound = (k: ObjectKey) =>
    new HttpError(statusOf(404, "NotFound", `${k.resource} "${k.name}" not found`, { name: k.name, kind: k.resource }));
  const conflict = (k: ObjectKey) =>
    new HttpError(
      statusOf(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${k.resource} "${k.name}": the object has been modified; please apply your changes to the latest version and try again`,
        { name: k.name, kind: k.resource },
      ),
    );
  const conflictUid = (k: ObjectKey, want: string, have: string) =>
    new HttpError(
      statusOf(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${k.resource} "${k.name}": Precondition failed: UID in precondition: ${want}, UID in object meta: ${have}`,
        { name: k.name, kind: k.resource },
      ),
    );

  /** Parses `/api/v1/...` and `/apis/coordination.k8s.io/v1/...`. */
  const route = (path: string) => {
    const m =
      /^\/(?:api\/v1|apis\/coordination\.k8s\.io\/v1)(?:\/namespaces\/([^/]+))?\/(pods|nodes|leases|events)(?:\/([^/]+))?(?:\/(status))?$/.exec(
        path,
      );
    if (!m) return undefined;
    return { namespace: m[1], resource: m[2]!, name: m[3], sub: m[4] };
  };

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    body: Obj | undefined,
    query: Record<string, string>,
  ) => {
    const url = new URL(req.url ?? "/", "https://x");
    const r = route(url.pathname);
    if (!r) throw new HttpError(statusOf(404, "NotFound", "the server could not find the requested resource"));
    const method = req.method ?? "GET";
    if (!r.name) {
      if (method === "POST") {
        const name = body?.metadata?.name;
        if (!name) throw new HttpError(statusOf(422, "Invalid", "metadata.name: Required value: name is required"));
        const key = { resource: r.resource, namespace: r.namespace, name };
        if (store.has(keyOf(key)))
          throw new HttpError(
            statusOf(409, "AlreadyExists", `${r.resource} "${name}" already exists`, { name, kind: r.resource }),
          );
        return [201, create(key, body!)] as const;
      }
      const items = [...store.entries()]
        .filter(([k]) => k.startsWith(`${r.resource}/`))
        .map(([, o]) => o)
        .filter((o) => !r.namespace || o.metadata.namespace === r.namespace)
        .filter((o) => matches(o, query));
      if (query.watch === "true" || query.watch === "1")
        return watch(r.resource, { ...query, namespace: r.namespace ?? "" }, res);
      const [kind, apiVersion] = kindOf[r.resource]!;
      return [200, { kind: `${kind}List`, apiVersion, metadata: { resourceVersion: String(rv) }, items }] as const;
    }
    const key = { resource: r.resource, namespace: r.namespace, name: r.name };
    const current = store.get(keyOf(key));
    if (method === "DELETE") {
      const o = deleteObject(
        key,
        body?.gracePeriodSeconds ?? (query.gracePeriodSeconds ? Number(query.gracePeriodSeconds) : undefined),
        body?.preconditions,
      );
      if (!o) throw notFound(key);
      return [200, o] as const;
    }
    if (!current) throw notFound(key);
    if (method === "GET") return [200, current] as const;
    let next: Obj;
    if (method === "PUT") {
      if (body?.metadata?.resourceVersion && body.metadata.resourceVersion !== current.metadata.resourceVersion)
        throw conflict(key);
      next = clone(body!);
      next.metadata = {
        ...next.metadata,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
      };
    } else if (method === "PATCH") {
      const type = req.headers["content-type"] ?? "";
      if (body?.metadata?.resourceVersion && body.metadata.resourceVersion !== current.metadata.resourceVersion)
        throw conflict(key);
      if (body?.metadata?.uid && body.metadata.uid !== current.metadata.uid)
        throw conflictUid(key, body.metadata.uid, current.metadata.uid);
      if (type.startsWith("application/strategic-merge-patch+json")) next = strategicMergePatch(current, body) as Obj;
      else if (type.startsWith("application/merge-patch+json")) next = mergePatch(current, body) as Obj;
      else
        throw new HttpError(
          statusOf(415, "UnsupportedMediaType", `the body of the request was in an unknown format: ${type}`),
        );
    } else
      throw new HttpError(
        statusOf(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`),
      );
    // The status subresource changes only the status; the main resource everything but the status.
    if (r.sub === "status") next = { ...clone(current), status: next.status };
    else if (r.resource === "pods" || r.resource === "nodes") next.status = clone(current.status);
    next.kind = current.kind;
    next.apiVersion = current.apiVersion;
    return [200, write(key, next, "MODIFIED")] as const;
  };

  const watch = (resource: string, query: Record<string, string>, res: ServerResponse) => {
    const from = query.resourceVersion ? Number(query.resourceVersion) : rv;
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    if (query.resourceVersion && from < compactedBelow) {
      const status = statusOf(410, "Expired", `too old resource version: ${from} (${compactedBelow})`);
      res.end(`${JSON.stringify({ type: "ERROR", object: status })}\n`);
      return undefined;
    }
    for (const h of history) {
      if (h.rv <= from || h.resource !== resource) continue;
      if (query.namespace && h.object.metadata?.namespace !== query.namespace) continue;
      if (matches(h.object, query)) res.write(`${JSON.stringify({ type: h.type, object: h.object })}\n`);
    }
    const w = { resource, query, res };
    watches.add(w);
    const [kind, apiVersion] = kindOf[resource]!;
    const bookmark =
      query.allowWatchBookmarks === "true"
        ? setInterval(
            () =>
              res.write(
                `${JSON.stringify({ type: "BOOKMARK", object: { kind, apiVersion, metadata: { resourceVersion: String(rv) } } })}\n`,
              ),
            options.bookmarkIntervalMs ?? 200,
          )
        : undefined;
    const timeout = query.timeoutSeconds ? setTimeout(() => res.end(), Number(query.timeoutSeconds) * 1000) : undefined;
    res.on("close", () => {
      watches.delete(w);
      clearInterval(bookmark);
      clearTimeout(timeout);
    });
    return undefined;
  };

  const server: Server = createServer({ key: readFileSync(`${certDir}/apiserver.key`), cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "https://x");
      const query = Object.fromEntries(url.searchParams);
      const text = Buffer.concat(chunks).toString("utf8");
      let body: Obj | undefined;
      const entry: LoggedRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query,
        contentType: req.headers["content-type"],
        body: undefined,
        status: 0,
      };
      requests.push(entry);
      const answer = (status: number, payload: unknown) => {
        entry.status = status;
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(payload));
      };
      try {
        body = text ? (JSON.parse(text) as Obj) : undefined;
        entry.body = body;
      } catch {
        return answer(400, statusOf(400, "BadRequest", "the request body is not JSON"));
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`)
        return answer(401, statusOf(401, "Unauthorized", "Unauthorized"));
      const f = failures.find((x) => x.times > 0 && x.match(entry.method, entry.path));
      if (f) {
        f.times--;
        return answer(
          f.status,
          statusOf(f.status, f.status === 429 ? "TooManyRequests" : "InternalError", "injected failure"),
        );
      }
      handle(req, res, body, query).then(
        (r) => {
          if (r) answer(r[0], r[1]);
          else entry.status = 200;
        },
        (err: unknown) => {
          if (err instanceof HttpError) answer(err.status.code, err.status);
          else answer(500, statusOf(500, "InternalError", String(err)));
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const yaml = () =>
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: test",
      "  cluster:",
      `    server: ${url}`,
      `    certificate-authority-data: ${cert.toString("base64")}`,
      "users:",
      "- name: test",
      "  user:",
      `    token: ${TOKEN}`,
      "contexts:",
      "- name: test",
      "  context: {cluster: test, user: test}",
      "current-context: test",
      "",
    ].join("\n");

  return {
    url,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromString(yaml());
      return kc;
    },
    kubeConfigYaml: yaml,
    get: (k) => store.get(keyOf(k)),
    list: (resource, namespace) =>
      [...store.entries()]
        .filter(([k]) => k.startsWith(`${resource}/`))
        .map(([, o]) => o)
        .filter((o) => !namespace || o.metadata.namespace === namespace),
    put(k, object) {
      const current = store.get(keyOf(k));
      if (!current) return create(k, object);
      const next = { ...clone(object), metadata: { ...clone(object.metadata ?? {}), uid: current.metadata.uid } };
      return write(k, next, "MODIFIED");
    },
    delete: (k, g) => void deleteObject(k, g),
    compact() {
      compactedBelow = rv;
      history.length = 0;
    },
    breakWatches() {
      for (const w of watches) w.res.destroy();
    },
    failNext(times, status, match = () => true) {
      failures.push({ times, status, match });
    },
    clearFailures() {
      failures.length = 0;
    },
    requests,
    get openWatches() {
      return watches.size;
    },
    waitFor(predicate, timeoutMs = 30_000, what = "condition") {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate()) return;
          cleanup();
          resolve();
        };
        const timer = setInterval(check, 20);
        const deadline = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${what}`));
        }, timeoutMs);
        const cleanup = () => {
          clearInterval(timer);
          clearTimeout(deadline);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      for (const w of watches) w.res.end();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
