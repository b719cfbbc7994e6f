import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import type { Container } from "../pod.js";
import { goDialError, goDialTimeout, goQuote, joinHostPort } from "./go-format.js";
import { resolveContainerPort } from "./port.js";

/**
 * The Kubernetes minor version nodekit's probes and hooks introduce themselves with
 * (`User-Agent: kube-probe/1.35`, `kube-lifecycle/1.35`), as the kubelet of that version does.
 */
export const kubeUserAgentVersion = "1.35";

/** The kubelet reads at most this much of a probe's or hook's response body (10 KiB). */
export const maxResponseBodyBytes = 10 * 1024;

/** An `httpGet` action of a probe or a lifecycle hook (`v1.HTTPGetAction`). */
export interface HttpGetAction {
  /** Path on the server, e.g. `/healthz` (a missing leading slash is added, as the kubelet does). */
  path?: string | undefined;
  /** Port number, or the name of one of the container's ports. */
  port: number | string;
  /** Host to connect to; default the pod IP. */
  host?: string | undefined;
  /** `HTTP` (default) or `HTTPS` (certificates are not checked, as the kubelet does not check them). */
  scheme?: string | undefined;
  /** Headers to send; a `Host` header sets the request's host. */
  httpHeaders?: readonly { name: string; value: string }[] | undefined;
}

/** A GET request built as the kubelet builds it (`NewRequestForHTTPGetAction`). */
export interface HttpGetRequest {
  /** The URL, as Go's `url.URL.String()` writes it. */
  url: string;
  /** The headers in Go's canonical form, each name with its values in order. */
  headers: Map<string, string[]>;
}

/** Go's `textproto.CanonicalMIMEHeaderKey`: `content-type` → `Content-Type`. */
export function canonicalHeaderKey(name: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/**
 * Builds the kubelet's request for an `httpGet` probe (`purpose` `probe`) or lifecycle hook
 * (`lifecycle`): scheme lower-cased (default `http`), host the action's or else `podIP`, port
 * resolved by name or number, the path as Go's URL writes it, the action's headers, and
 * `User-Agent: kube-<purpose>/<version>` and `Accept: *\/*` unless the action sets them (an empty
 * `Accept` removes it). Throws the kubelet's error when the port cannot be resolved.
 */
export function newRequestForHttpGet(
  action: HttpGetAction,
  container: Pick<Container, "ports">,
  podIP: string,
  purpose: "probe" | "lifecycle",
): HttpGetRequest {
  const scheme = (action.scheme ?? "").toLowerCase() || "http";
  const host = action.host || podIP;
  const port = resolveContainerPort(action.port, container);
  const headers = new Map<string, string[]>();
  for (const h of action.httpHeaders ?? []) {
    const key = canonicalHeaderKey(h.name);
    headers.set(key, [...(headers.get(key) ?? []), h.value]);
  }
  if (!headers.has("User-Agent")) headers.set("User-Agent", [`kube-${purpose}/${kubeUserAgentVersion}`]);
  if (!headers.has("Accept")) headers.set("Accept", ["*/*"]);
  else if ((headers.get("Accept")?.[0] ?? "") === "") headers.delete("Accept");
  return { url: formatUrl(scheme, host, port, action.path ?? ""), headers };
}

/** Go's `url.Parse(path)` with scheme and host set, then `String()`. */
function formatUrl(scheme: string, host: string, port: number, path: string): string {
  let rest = path;
  let fragment = "";
  const hash = rest.indexOf("#");
  if (hash >= 0) {
    fragment = rest.slice(hash);
    rest = rest.slice(0, hash);
  }
  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q);
    rest = rest.slice(0, q);
  }
  if (query === "?") query = "";
  const slash = rest !== "" && !rest.startsWith("/") ? "/" : "";
  return `${scheme}://${joinHostPort(host, port)}${slash}${rest}${query}${fragment}`;
}

/** An HTTP answer: its status and at most {@link maxResponseBodyBytes} of its body. */
export interface HttpAnswer {
  /** The status code. */
  statusCode: number;
  /** The body (truncated to 10 KiB). */
  body: string;
  /** The URL that answered (after redirects that were followed). */
  url: string;
}

/** A failed GET, with the text Go's `http.Client.Do` error gives (`Get "http://…": dial tcp …`). */
export class HttpGetError extends Error {
  /** The part after the URL: `dial tcp 10.0.0.1:80: connect: connection refused`. */
  readonly detail: string;
  /** An HTTPS request answered in plain HTTP (the kubelet then retries a hook over HTTP). */
  readonly httpResponseToHttps: boolean;
  /** The answer came, but its body did not (the kubelet's prober reports that as an error, not a failure). */
  readonly whileReadingBody: boolean;
  constructor(url: string, detail: string, flags: { httpResponseToHttps?: boolean; whileReadingBody?: boolean } = {}) {
    super(`Get ${goQuote(url)}: ${detail}`);
    this.name = "HttpGetError";
    this.detail = detail;
    this.httpResponseToHttps = flags.httpResponseToHttps ?? false;
    this.whileReadingBody = flags.whileReadingBody ?? false;
  }
}

/** Options of {@link httpGet}. */
export interface HttpGetOptions {
  /** The whole exchange (redirects and body included) must end within this many ms (Go's `Client.Timeout`). */
  timeoutMs?: number | undefined;
  /** Aborts the exchange. */
  signal?: AbortSignal | undefined;
}

const redirectCodes = new Set([301, 302, 303, 307, 308]);

/**
 * GETs a kubelet request as the kubelet's client does: a new connection each time, HTTPS without
 * certificate checks, redirects followed while they stay on the same host (at most 10), a
 * redirect to another host not followed (its 3xx answer is returned). Rejects with an
 * {@link HttpGetError} that reads as Go's.
 */
export async function httpGet(req: HttpGetRequest, options: HttpGetOptions = {}): Promise<HttpAnswer> {
  const deadline = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
  const first = new URL(parseable(req.url));
  let url = req.url;
  for (let redirects = 0; ; redirects++) {
    const answer = await getOnce(url, req.headers, deadline, options.signal);
    const location = answer.location;
    if (!redirectCodes.has(answer.statusCode) || location === undefined) return answer;
    let next: URL;
    try {
      next = new URL(location, parseable(url));
    } catch {
      return answer;
    }
    if (next.hostname !== first.hostname) return answer; // not followed: the kubelet keeps this answer
    if (redirects + 1 >= 10) throw new HttpGetError(next.toString(), "stopped after 10 redirects");
    url = next.toString();
  }
}

function getOnce(
  url: string,
  headers: Map<string, string[]>,
  deadline: number | undefined,
  signal: AbortSignal | undefined,
): Promise<HttpAnswer & { location: string | undefined }> {
  return new Promise((resolve, reject) => {
    let parsed: URL;
    try {
      parsed = new URL(parseable(url));
    } catch (err) {
      reject(new HttpGetError(url, (err as Error).message));
      return;
    }
    const scheme = parsed.protocol.slice(0, -1);
    if (scheme !== "http" && scheme !== "https") {
      reject(new HttpGetError(url, `unsupported protocol scheme ${goQuote(scheme)}`));
      return;
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, "");
    const port = Number(parsed.port || (scheme === "https" ? 443 : 80));
    const addr = joinHostPort(host, port);
    const outgoing: Record<string, string | string[]> = {};
    let hostHeader: string | undefined;
    for (const [k, v] of headers) {
      if (k === "Host") hostHeader = v[0];
      else outgoing[k] = v.length === 1 && v[0] !== undefined ? v[0] : v;
    }
    if (hostHeader) outgoing.Host = hostHeader;
    const send = scheme === "https" ? httpsRequest : httpRequest;
    let connected = false;
    let gotHeaders = false;
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const fail = (detail: string, flags: { httpResponseToHttps?: boolean; whileReadingBody?: boolean } = {}) =>
      finish(() => reject(new HttpGetError(url, detail, flags)));
    const req = send(
      {
        protocol: parsed.protocol,
        hostname: host,
        port,
        path: `${parsed.pathname}${parsed.search}`,
        method: "GET",
        headers: outgoing,
        agent: false,
        rejectUnauthorized: false,
      },
      (res: IncomingMessage) => {
        gotHeaders = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          if (size >= maxResponseBodyBytes) return;
          const take = chunk.subarray(0, maxResponseBodyBytes - size);
          chunks.push(take);
          size += take.length;
          if (size >= maxResponseBodyBytes) {
            finish(() => resolve(answerOf(res, chunks, url)));
            req.destroy();
          }
        });
        res.once("end", () => finish(() => resolve(answerOf(res, chunks, url))));
        res.once("error", (err) => fail(`read: ${err.message}`, { whileReadingBody: true }));
      },
    );
    req.once("socket", (socket: Socket) => {
      if (!socket.connecting) connected = true;
      else socket.once("connect", () => (connected = true));
    });
    req.once("error", (err: NodeJS.ErrnoException) => {
      if (settled) return;
      const code = err.code ?? "";
      if (code === "ECONNRESET" && connected) return fail("EOF");
      if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || /wrong version number|packet length too long/.test(err.message)) {
        return fail("http: server gave HTTP response to HTTPS client", { httpResponseToHttps: true });
      }
      if (connected) return fail(err.message);
      fail(goDialError(addr, host, err));
    });
    const onAbort = () => {
      fail("context canceled");
      req.destroy();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (deadline !== undefined) {
      timer = setTimeout(
        () => {
          if (gotHeaders) {
            fail("context deadline exceeded (Client.Timeout or context cancellation while reading body)", {
              whileReadingBody: true,
            });
          } else {
            fail(
              connected
                ? "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
                : `${goDialTimeout(addr)} (Client.Timeout exceeded while awaiting headers)`,
            );
          }
          req.destroy();
        },
        Math.max(0, deadline - Date.now()),
      );
    }
    req.end();
  });
}

/**
 * A URL Node can parse: Go's `http://:8080/x` (no host: a pod without an IP) dials the local
 * system, so it is read as 127.0.0.1; messages keep the URL as Go writes it.
 */
function parseable(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)(?=:\d)/i, "$1127.0.0.1");
}

function answerOf(res: IncomingMessage, chunks: Buffer[], url: string): HttpAnswer & { location: string | undefined } {
  const location = res.headers.location;
  return {
    statusCode: res.statusCode ?? 0,
    body: Buffer.concat(chunks).toString("utf8"),
    url,
    location: typeof location === "string" ? location : undefined,
  };
}
