// A local Kubernetes API server for tests that drive `@kubernetes/client-node` unchanged: HTTPS on
// 127.0.0.1 with a certificate made at start, a bearer token, and pods (+status, +binding), nodes
// (+status), leases, events and namespaces with kube-apiserver's semantics — one global
// resourceVersion, optimistic concurrency, status subresources, merge / strategic merge / JSON
// patches, graceful pod deletion, list with selectors and pagination, watch with replay from a
// resourceVersion, bookmarks and 410 Expired. Test controls break, compact and fail it on purpose.
import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import type { Json } from "./json.js";
import { createRegistry } from "./registry.js";
import { resourceDef } from "./resources.js";
import { createRouter } from "./router.js";
import { ApiError, badRequest, injected, unauthorized } from "./status.js";
import { createStore, type Store } from "./store.js";
import { createSelfSignedCertificate } from "./tls.js";
import type { OpenWatch } from "./watch.js";

export type { Json, JsonObject } from "./json.js";
export type { EventType, Store, StoreEvent } from "./store.js";

export interface TestApiServerOptions {
  /** The bearer token requests must carry (default: random). */
  token?: string;
  /** Changes kept for watches from an older resourceVersion (default 1,000); older ones get 410. */
  historyLimit?: number;
  /** How often a watch with `allowWatchBookmarks` gets a BOOKMARK (default 1,000 ms; kube-apiserver: about a minute). */
  bookmarkIntervalMs?: number;
  /** A watch's lifetime when the client sets no `timeoutSeconds` (default 1,800 s). */
  watchTimeoutSeconds?: number;
  /** Namespaces that exist at start (default: default, kube-system, kube-public, kube-node-lease). */
  namespaces?: string[];
  /** Refuse creates in a namespace that does not exist, as the NamespaceLifecycle admission does (default true). */
  enforceNamespaces?: boolean;
}

/** A request the server received, for assertions. */
export interface LoggedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  /** The body, parsed when JSON. */
  body: Json | string | undefined;
  /** The status answered (200 for a watch). */
  status: number;
  watch: boolean;
}

/** Which requests `failNext` fails; every field given must match. */
export interface RequestMatch {
  method?: string;
  /** A path prefix, or a pattern tested against the path. */
  path?: string | RegExp;
}

export interface TestApiServer {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  readonly token: string;
  /** The CA (the server's own certificate) in PEM. */
  readonly ca: string;
  /** A KubeConfig loaded from `kubeConfigYaml()`, for `makeApiClient`, `Watch` and informers. */
  kubeConfig(): KubeConfig;
  /** A kubeconfig file's text for this server: CA data, the token, namespace `default`. */
  kubeConfigYaml(): string;
  /** The objects, bypassing HTTP and the registry's rules. */
  readonly store: Store;
  /** Requests received, oldest first. */
  readonly requests: readonly LoggedRequest[];
  clearRequests(): void;
  /** Watch streams open now. */
  readonly openWatches: number;
  /** Forgets the change history: watches, lists at an exact resourceVersion and continue tokens from before now get 410. */
  compact(): void;
  /** Destroys every open watch connection mid-stream. */
  breakWatches(): void;
  /** Ends every open watch stream cleanly, as its timeout would. */
  endWatches(): void;
  /** Answers the next `count` requests that match with `code` (429, 500, 503, 504…) and a kube-apiserver Status. */
  failNext(count: number, code: number, match?: RequestMatch): void;
  /**
   * Resolves with the predicate's first truthy value, evaluated now and after every change, watch
   * opened or closed and request answered;
   * rejects after `timeoutMs` (default 10 s) with `message`.
   */
  waitFor<T>(
    predicate: (store: Store) => T | undefined | null | false,
    options?: { timeoutMs?: number; message?: string },
  ): Promise<T>;
  /** Ends the watches and the server. */
  close(): Promise<void>;
}

/**
 * Starts the server on an ephemeral port of 127.0.0.1.
 *
 * @example
 * const server = await createTestApiServer();
 * const core = server.kubeConfig().makeApiClient(CoreV1Api);
 * await core.createNamespacedPod({ namespace: "default", body: { metadata: { name: "web" }, spec } });
 * await server.waitFor((s) => s.get("pods", "default", "web")?.status);
 * await server.close();
 */
export async function createTestApiServer(options: TestApiServerOptions = {}): Promise<TestApiServer> {
  const token = options.token ?? randomBytes(16).toString("hex");
  const { cert, key } = createSelfSignedCertificate();
  const store = createStore(options.historyLimit ?? 1_000);
  for (const name of options.namespaces ?? ["default", "kube-system", "kube-public", "kube-node-lease"]) {
    store.put("namespaces", {
      metadata: { name, labels: { "kubernetes.io/metadata.name": name } },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    });
  }
  const registry = createRegistry(store, { enforceNamespaces: options.enforceNamespaces ?? true });
  const watches = new Set<OpenWatch>();
  /** Re-checks of pending waitFor calls: after every change, watch opened or closed, request answered. */
  const changed = new Set<() => void>();
  const notify = () => {
    for (const check of [...changed]) check();
  };
  store.subscribe(notify);
  const requests: LoggedRequest[] = [];
  const failures: { remaining: number; code: number; match: RequestMatch }[] = [];
  const router = createRouter({
    store,
    registry,
    watchTimeoutSeconds: options.watchTimeoutSeconds ?? 1_800,
    bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1_000,
    onWatch: (w) => {
      watches.add(w);
      notify();
    },
    onWatchClosed: (w) => {
      watches.delete(w);
      notify();
    },
  });

  const reply = (res: ServerResponse, code: number, body: Json | string) => {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const headers: Record<string, string> = {
      "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json",
    };
    if (code === 429 || code === 503) headers["retry-after"] = "1";
    res.writeHead(code, headers).end(text);
    notify();
  };

  const takeFailure = (method: string, path: string) => {
    const rule = failures.find(
      (f) =>
        (f.match.method === undefined || f.match.method.toUpperCase() === method) &&
        (f.match.path === undefined ||
          (typeof f.match.path === "string" ? path.startsWith(f.match.path) : f.match.path.test(path))),
    );
    if (!rule) return undefined;
    if (--rule.remaining <= 0) failures.splice(failures.indexOf(rule), 1);
    return rule.code;
  };

  function handle(req: IncomingMessage, res: ServerResponse, raw: string) {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const method = req.method ?? "GET";
    const contentType = req.headers["content-type"];
    let body: Json | string | undefined = raw === "" ? undefined : raw;
    try {
      if (raw !== "") body = JSON.parse(raw) as Json;
    } catch {}
    const entry: LoggedRequest = {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType,
      body,
      status: 0,
      watch: false,
    };
    requests.push(entry);
    try {
      if (req.headers.authorization !== `Bearer ${token}`) throw unauthorized();
      const failure = takeFailure(method, url.pathname);
      if (failure !== undefined) throw injected(failure);
      if (typeof body === "string") throw badRequest(`the body of the request is not JSON: ${body.slice(0, 80)}`);
      const answer = router.route(req, url, body ?? null, res);
      if (answer === undefined) {
        entry.status = 200;
        entry.watch = true;
        return;
      }
      entry.status = answer.code;
      reply(res, answer.code, answer.body);
    } catch (error) {
      const e = error instanceof ApiError ? error : injected(500);
      if (!(error instanceof ApiError)) e.status.message = `Internal error occurred: ${String(error)}`;
      entry.status = e.code;
      if (res.headersSent) res.destroy();
      else reply(res, e.code, e.status);
    }
  }

  const server = createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const kubeConfigYaml = () =>
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: nodekit-test",
      "  cluster:",
      `    server: ${url}`,
      `    certificate-authority-data: ${Buffer.from(cert).toString("base64")}`,
      "users:",
      "- name: nodekit-test",
      "  user:",
      `    token: ${token}`,
      "contexts:",
      "- name: nodekit-test",
      "  context:",
      "    cluster: nodekit-test",
      "    user: nodekit-test",
      "    namespace: default",
      "current-context: nodekit-test",
      "",
    ].join("\n");

  return {
    url,
    token,
    ca: cert,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromString(kubeConfigYaml());
      return kc;
    },
    kubeConfigYaml,
    store,
    requests,
    clearRequests: () => {
      requests.length = 0;
    },
    get openWatches() {
      return watches.size;
    },
    compact: () => store.compact(),
    breakWatches() {
      for (const w of [...watches]) w.break();
    },
    endWatches() {
      for (const w of [...watches]) w.end();
    },
    failNext(count, code, match = {}) {
      if (count > 0) failures.push({ remaining: count, code, match });
    },
    waitFor(predicate, { timeoutMs = 10_000, message = "waitFor: the condition did not hold in time" } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          try {
            const value = predicate(store);
            if (value) {
              done();
              resolve(value);
            }
          } catch (error) {
            done();
            reject(error);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(message));
        }, timeoutMs);
        changed.add(check);
        const done = () => {
          clearTimeout(timer);
          changed.delete(check);
        };
        check();
      });
    },
    async close() {
      for (const w of [...watches]) w.end();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

export { resourceDef };
