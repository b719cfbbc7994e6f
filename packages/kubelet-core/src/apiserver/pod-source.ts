import { CoreV1Api, type KubeConfig, Watch } from "@kubernetes/client-node";
import { type Clock, sleep, systemClock } from "../clock.js";
import type { PodSource, PodSourceSink } from "../config/pod-source.js";
import type { Pod } from "../pod.js";
import { type Logger, messageOf } from "../sync/listeners.js";
import { podFromApi } from "./convert.js";
import { statusCodeOf } from "./requests.js";
import { configMirrorAnnotation } from "./status-writer.js";

/** Options of {@link createApiServerSource}. */
export interface ApiServerSourceOptions {
  /** The cluster to watch. */
  kubeConfig: KubeConfig;
  /** The node whose pods are watched (`fieldSelector=spec.nodeName=<nodeName>`). */
  nodeName: string;
  /** Log lines. */
  logger?: Logger | undefined;
  /** Clock of the backoff waits (default the wall clock). */
  clock?: Clock | undefined;
  /** First wait after a failed list or watch, doubling up to `maxBackoffMs` (default 800 ms, as client-go's reflector). */
  initialBackoffMs?: number | undefined;
  /** Longest wait between attempts (default 30 s, as client-go's reflector). */
  maxBackoffMs?: number | undefined;
  /** How long the server keeps one watch open, in seconds (default 5 to 10 minutes at random, as client-go). */
  watchTimeoutSeconds?: number | undefined;
  /**
   * Hands the whole set it holds to the reconciler again every this many ms, as an informer's
   * resync does (no API call). Default 0: never, as the kubelet's API source.
   */
  resyncPeriodMs?: number | undefined;
}

/** The API server's pod source, with what it has seen. */
export interface ApiServerSource extends PodSource {
  /** The resourceVersion the source has seen up to (from its list, watch events and bookmarks). */
  readonly resourceVersion: string | undefined;
  /** How many times the source listed (the first list, and each re-list after a 410 Gone). */
  readonly lists: number;
}

const isMirror = (pod: Pod) => pod.metadata?.annotations?.[configMirrorAnnotation] !== undefined;

/**
 * The kubelet's API server source (`config.NewSourceApiserver`) over `@kubernetes/client-node`:
 * lists the pods bound to the node and hands them over as one set (marking the source synced),
 * then watches from the list's resourceVersion with bookmarks and hands over each change. A watch
 * that ends is reopened from the last resourceVersion; a `410 Gone` (the resourceVersion is too
 * old) re-lists, and the new set removes the pods deleted meanwhile; failures back off from
 * 800 ms to 30 s. Mirror pods (the API's copies of static pods) are not run, as the kubelet does.
 *
 * @example
 * ```ts
 * import { KubeConfig } from "@kubernetes/client-node";
 * const kubeConfig = new KubeConfig();
 * kubeConfig.loadFromDefault();
 * const reconciler = createReconciler({ runtime, image, nodeName, sources: [createApiServerSource({ kubeConfig, nodeName })] });
 * reconciler.start();
 * ```
 */
export function createApiServerSource(options: ApiServerSourceOptions): ApiServerSource {
  const clock = options.clock ?? systemClock;
  const log = options.logger;
  const initial = options.initialBackoffMs ?? 800;
  const max = options.maxBackoffMs ?? 30_000;
  const fieldSelector = `spec.nodeName=${options.nodeName}`;
  let resourceVersion: string | undefined;
  let lists = 0;
  /** The pods the source holds, by uid: what a resync hands over again. */
  const held = new Map<string, Pod>();

  const list = async (sink: PodSourceSink) => {
    const core = options.kubeConfig.makeApiClient(CoreV1Api);
    const result = await core.listPodForAllNamespaces({ fieldSelector });
    lists++;
    resourceVersion = result.metadata?.resourceVersion;
    const pods = result.items.map(podFromApi).filter((p) => !isMirror(p));
    held.clear();
    for (const p of pods) held.set(p.metadata?.uid ?? "", p);
    sink.set(pods);
  };

  /** One watch from `resourceVersion`: resolves when it ends; "gone" when the server says 410, "empty" when it ended at once with nothing. */
  const watchOnce = (sink: PodSourceSink, signal: AbortSignal): Promise<"ended" | "gone" | "empty"> =>
    new Promise((resolve, reject) => {
      let gone = false;
      let events = 0;
      const opened = clock.now();
      let settled = false;
      const finish = (err?: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        if (gone) resolve("gone");
        else if (err && !signal.aborted) reject(err);
        // A watch that closed within a second having delivered nothing (a proxy that answers and
        // hangs up) is not reopened at once, as client-go's reflector treats a "very short watch".
        else resolve(events === 0 && clock.now() - opened < 1000 && !signal.aborted ? "empty" : "ended");
      };
      let controller: AbortController | undefined;
      const onAbort = () => controller?.abort();
      signal.addEventListener("abort", onAbort);
      const timeoutSeconds = options.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);
      new Watch(options.kubeConfig)
        .watch(
          "/api/v1/pods",
          { fieldSelector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
          (type: string, object: unknown) => {
            events++;
            if (type === "ERROR") {
              const status = object as { code?: number; reason?: string; message?: string };
              if (status.code === 410) gone = true;
              else log?.warn("pod watch error", { code: status.code, message: status.message });
              controller?.abort();
              return;
            }
            const pod = podFromApi(object);
            const rv = pod.metadata && (pod.metadata as { resourceVersion?: string }).resourceVersion;
            if (rv) resourceVersion = rv;
            if (type === "BOOKMARK" || isMirror(pod)) return;
            const uid = pod.metadata?.uid ?? "";
            if (type === "ADDED") {
              held.set(uid, pod);
              sink.add(pod);
            } else if (type === "MODIFIED") {
              held.set(uid, pod);
              sink.update(pod);
            } else if (type === "DELETED") {
              held.delete(uid);
              sink.remove(pod);
            }
          },
          (err: unknown) => finish(err),
        )
        .then((c) => {
          controller = c;
          if (signal.aborted || settled) c.abort();
        }, finish);
    });

  const source: ApiServerSource = {
    name: "api",
    get resourceVersion() {
      return resourceVersion;
    },
    get lists() {
      return lists;
    },
    async start(sink, signal) {
      const resync = options.resyncPeriodMs ?? 0;
      if (resync > 0) {
        void (async () => {
          while (!signal.aborted) {
            await sleep(clock, resync, signal).catch(() => undefined);
            if (!signal.aborted && lists > 0) sink.set([...held.values()]);
          }
        })();
      }
      let failures = 0;
      let listed = false;
      while (!signal.aborted) {
        try {
          if (!listed) {
            await list(sink);
            listed = true;
          }
          const how = await watchOnce(sink, signal);
          if (how === "empty") throw new Error("the watch closed at once without events");
          failures = 0;
          if (how === "gone") {
            log?.info("pod watch: resourceVersion too old, listing again", { resourceVersion });
            listed = false;
          }
        } catch (err) {
          if (signal.aborted) return;
          if (statusCodeOf(err) === 410) listed = false;
          failures++;
          const wait = Math.min(max, initial * 2 ** Math.min(failures - 1, 16));
          log?.warn("pod list/watch failed", { error: messageOf(err), retryInMs: wait });
          await sleep(clock, wait, signal).catch(() => undefined);
        }
      }
    },
  };
  return source;
}
