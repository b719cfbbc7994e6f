// One watch stream: newline-delimited JSON events over a chunked 200 response, as kube-apiserver
// sends them. The replay (initial ADDED events, or the history after the given resourceVersion) and
// the subscription to new events happen in the same tick, so nothing falls between them.
import type { ServerResponse } from "node:http";
import { defined } from "../defined.js";
import { clone, type JsonObject, meta } from "./json.js";
import { apiVersionOf, type ResourceDef } from "./resources.js";
import type { ApiError } from "./status.js";
import { expired } from "./status.js";
import type { InternalStore, StoreEvent } from "./store.js";

export interface WatchRequest {
  resource: ResourceDef;
  namespace: string | undefined;
  /** Whether an object passes the request's label and field selectors. */
  matches(object: JsonObject): boolean;
  resourceVersion: string | undefined;
  sendInitialEvents: boolean | undefined;
  allowWatchBookmarks: boolean;
  timeoutMs: number;
  bookmarkIntervalMs: number;
}

export interface OpenWatch {
  readonly resource: string;
  /** Ends the stream cleanly (the client sees the response end). */
  end(): void;
  /** Destroys the connection mid-stream, as a failing load balancer would. */
  break(): void;
}

type WatchType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export function startWatch(
  store: InternalStore,
  request: WatchRequest,
  res: ServerResponse,
  onClose: (watch: OpenWatch) => void,
): OpenWatch {
  const r = request.resource;
  const inScope = (o: JsonObject) => request.namespace === undefined || meta(o).namespace === request.namespace;
  const passes = (o: JsonObject | undefined) => o !== undefined && inScope(o) && request.matches(o);
  let timeout: NodeJS.Timeout | undefined;
  let bookmarkTimer: NodeJS.Timeout | undefined;
  let unsubscribe = () => {};
  let closed = false;

  res.writeHead(200, {
    "content-type": "application/json",
    "transfer-encoding": "chunked",
    "cache-control": "no-cache",
  });
  res.flushHeaders();

  const send = (type: WatchType, object: JsonObject) => {
    if (!closed) res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const typed = (o: JsonObject) => ({ ...clone(o), apiVersion: apiVersionOf(r), kind: r.kind });
  const bookmark = (annotations?: JsonObject) =>
    send("BOOKMARK", {
      kind: r.kind,
      apiVersion: apiVersionOf(r),
      metadata: { resourceVersion: String(store.resourceVersion), ...(annotations ? { annotations } : {}) },
    });

  /** The event a watcher with this filter sees for a change, if any (an object leaving the filter is DELETED). */
  const deliver = (e: StoreEvent) => {
    if (e.resource !== r) return;
    const now = e.type === "DELETED" ? undefined : e.object;
    const before = e.type === "ADDED" ? undefined : e.previous;
    const nowPasses = passes(now);
    const beforePasses = passes(before);
    if (nowPasses && beforePasses) send("MODIFIED", typed(defined(now)));
    else if (nowPasses) send("ADDED", typed(defined(now)));
    else if (beforePasses) {
      const gone = typed(e.type === "DELETED" ? e.object : defined(before));
      meta(gone).resourceVersion = String(e.resourceVersion);
      send("DELETED", gone);
    }
  };

  const watch: OpenWatch = {
    resource: r.resource,
    end() {
      if (closed) return;
      res.end();
      cleanup();
    },
    break() {
      if (closed) return;
      res.socket?.destroy();
      res.destroy();
      cleanup();
    },
  };
  function cleanup() {
    if (closed) return;
    closed = true;
    unsubscribe();
    clearTimeout(timeout);
    clearTimeout(bookmarkTimer);
    onClose(watch);
  }
  res.on("close", cleanup);

  const rv = request.resourceVersion;
  const initial = request.sendInitialEvents ?? (rv === undefined || rv === "" || rv === "0");
  if (initial) {
    for (const o of store.stateAt(r, store.resourceVersion).values()) if (passes(o)) send("ADDED", typed(o));
    if (request.sendInitialEvents) bookmark({ "k8s.io/initial-events-end": "true" });
  } else if (rv !== undefined && rv !== "" && rv !== "0") {
    const from = Number(rv);
    if (from < store.compactedResourceVersion) {
      const error: ApiError = expired(`too old resource version: ${from} (${store.compactedResourceVersion})`);
      send("ERROR", error.status);
      watch.end();
      return watch;
    }
    for (const e of store.eventsSince(from)) deliver(e);
  }
  unsubscribe = store.subscribe(deliver);
  timeout = setTimeout(() => watch.end(), request.timeoutMs);
  if (request.allowWatchBookmarks) {
    const tick = () => {
      bookmark();
      bookmarkTimer = setTimeout(tick, request.bookmarkIntervalMs);
    };
    bookmarkTimer = setTimeout(tick, request.bookmarkIntervalMs);
  }
  return watch;
}
