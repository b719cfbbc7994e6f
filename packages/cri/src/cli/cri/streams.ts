// nodekit-cri's streaming commands: exec (without -s), attach and port-forward, as crictl has
// them, on the streaming client of @nodekit/cri (src/streaming: WebSocket, v5/v4.channel.k8s.io).
import { isUnavailable } from "../../errors.js";
import {
  createPortForwardListener,
  openAttach,
  openExec,
  type PortForwardListener,
  type RemoteCommandSession,
} from "../../streaming/index.js";
import { CliError, type CommandContext, Exit, usageError } from "./context.js";

/** Where the kubelet's streaming server is when a runtime returns a URL without a host (crictl's fallback). */
const KUBELET_URL = "http://127.0.0.1:10250";

/** A returned streaming URL made absolute, as crictl does. */
export function absoluteStreamUrl(url: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  return new URL(url.startsWith("/") ? url : `/${url}`, KUBELET_URL).toString();
}

/** What the process gives a streaming command: its terminal, if any. */
export interface TerminalIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: NodeJS.WritableStream & { columns?: number; rows?: number; on?(event: "resize", cb: () => void): unknown };
}

function streamFailure(err: unknown, what: string): never {
  // The streaming server is not the CRI endpoint: its failures are the command's (exit 1).
  const message = err instanceof Error ? err.message : String(err);
  throw new CliError(`${what}: ${message}`);
}

/**
 * Runs an exec or attach session to its end: stdin (with -i) to the command, its stdout and
 * stderr to ours, the terminal in raw mode and resized with -t. Resolves to the command's exit
 * code (attach: 0 when the stream ends without a status).
 */
async function runSession(
  ctx: CommandContext,
  term: TerminalIo,
  session: RemoteCommandSession,
  opts: { stdin: boolean; tty: boolean },
): Promise<number> {
  const restore: (() => void)[] = [];
  session.stdout.on("data", (d: Buffer) => ctx.io.stdout.write(d));
  session.stderr.on("data", (d: Buffer) => ctx.io.stderr.write(d));
  if (opts.tty) {
    term.stdin.setRawMode?.(true);
    restore.push(() => term.stdin.setRawMode?.(false));
    const resize = () => {
      if (term.stdout.columns && term.stdout.rows)
        session.resize({ width: term.stdout.columns, height: term.stdout.rows });
    };
    resize();
    term.stdout.on?.("resize", resize);
  }
  if (opts.stdin) {
    term.stdin.pipe(session.stdin);
    restore.push(() => term.stdin.unpipe(session.stdin));
  }
  const onAbort = () => session.close();
  ctx.io.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const { exitCode } = await session.done;
    if (ctx.io.signal.aborted) return Exit.interrupted;
    return exitCode ?? 0;
  } catch (err) {
    return streamFailure(err, "stream");
  } finally {
    ctx.io.signal.removeEventListener("abort", onAbort);
    for (const r of restore) r();
    if (opts.stdin) term.stdin.pause();
  }
}

function checkTty(term: TerminalIo, opts: { stdin: boolean; tty: boolean }): void {
  if (!opts.tty) return;
  if (!opts.stdin) throw usageError("tty=true must be specified with interactive=true");
  if (!term.stdin.isTTY) throw usageError("input is not a terminal");
}

/** `exec` without `-s`: Exec, then the command's streams; its exit code is ours. */
export async function execStreaming(
  ctx: CommandContext,
  term: TerminalIo,
  id: string,
  cmd: string[],
  opts: { stdin: boolean; tty: boolean },
): Promise<number> {
  checkTty(term, opts);
  const { url } = await ctx
    .runtime()
    .exec({ containerId: id, cmd, tty: opts.tty, stdin: opts.stdin, stdout: true, stderr: !opts.tty })
    .catch((err: unknown) => {
      if (isUnavailable(err)) throw err;
      throw new CliError(`execing command in container ${id}: ${(err as Error).message}`);
    });
  let session: RemoteCommandSession;
  try {
    session = await openExec(absoluteStreamUrl(url), { signal: ctx.io.signal });
  } catch (err) {
    return streamFailure(err, `execing command in container ${id}`);
  }
  return runSession(ctx, term, session, opts);
}

/** `attach`: Attach, then the container's streams until it ends or we are interrupted. */
export async function attachStreaming(
  ctx: CommandContext,
  term: TerminalIo,
  id: string,
  opts: { stdin: boolean; tty: boolean },
): Promise<number> {
  checkTty(term, opts);
  const { url } = await ctx
    .runtime()
    .attach({ containerId: id, tty: opts.tty, stdin: opts.stdin, stdout: true, stderr: !opts.tty })
    .catch((err: unknown) => {
      if (isUnavailable(err)) throw err;
      throw new CliError(`attaching running container failed: ${(err as Error).message}`);
    });
  let session: RemoteCommandSession;
  try {
    session = await openAttach(absoluteStreamUrl(url), { signal: ctx.io.signal });
  } catch (err) {
    return streamFailure(err, "attaching running container failed");
  }
  return runSession(ctx, term, session, opts);
}

/** One `[LOCAL_PORT:]REMOTE_PORT` of port-forward (LOCAL empty: any free port). */
export function parsePortSpec(spec: string): { local: number; remote: number } {
  const m = /^(?:(\d*):)?(\d+)$/.exec(spec);
  const port = (s: string) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw usageError(`invalid port ${JSON.stringify(s)} in ${JSON.stringify(spec)}`);
    return n;
  };
  if (!m) throw usageError(`invalid port ${JSON.stringify(spec)}: use [LOCAL_PORT:]REMOTE_PORT`);
  const remote = port(m[2] as string);
  if (m[1] === undefined) return { local: remote, remote };
  return { local: m[1] === "" ? 0 : port(m[1]), remote };
}

/**
 * `port-forward POD-ID [LOCAL_PORT:]REMOTE_PORT...`: listens on 127.0.0.1 and forwards each
 * connection into the pod over a fresh PortForward URL, printing client-go's lines, until
 * interrupted.
 */
export async function portForwardStreaming(ctx: CommandContext, podId: string, specs: string[]): Promise<number> {
  const ports = specs.map(parsePortSpec);
  const runtime = ctx.runtime();
  // One call up front, so that an unknown pod or a runtime without streaming fails at once.
  await runtime.portForward({ podSandboxId: podId, port: ports.map((p) => p.remote) }).catch((err: unknown) => {
    if (isUnavailable(err)) throw err;
    throw new CliError(`port forward: ${(err as Error).message}`);
  });
  const listeners: PortForwardListener[] = [];
  try {
    for (const p of ports) {
      let localPort = p.local;
      const listener = await createPortForwardListener({
        port: p.remote,
        localPort: p.local,
        openUrl: async () => {
          ctx.out(`Handling connection for ${localPort}\n`);
          return absoluteStreamUrl((await runtime.portForward({ podSandboxId: podId, port: [p.remote] })).url);
        },
      }).catch((err: unknown) => streamFailure(err, `port forward: listening on 127.0.0.1:${p.local}`));
      listener.onError((err) =>
        ctx.io.stderr.write(`E: an error occurred forwarding ${listener.localPort} -> ${p.remote}: ${err.message}\n`),
      );
      localPort = listener.localPort;
      listeners.push(listener);
      ctx.out(`Forwarding from ${listener.host}:${listener.localPort} -> ${p.remote}\n`);
    }
    await new Promise<void>((resolve) => {
      if (ctx.io.signal.aborted) resolve();
      ctx.io.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    return 0;
  } finally {
    for (const l of listeners) await l.close();
  }
}
