// host-process-shim: serves the host-process runtime on a unix socket until SIGINT or SIGTERM.
import { parseArgs } from "node:util";
import { createCriServer } from "@nodekit/cri";
import { createHostProcessRuntime } from "./host-process-runtime.js";

const usage = `Usage: tsx src/main.ts [--listen unix:///tmp/host-shim.sock] [--image ref]…

Serves a CRI runtime whose containers are host processes (not isolated: they run as this user).
  --listen <endpoint>  unix socket to serve on (default unix:///tmp/host-shim.sock)
  --image <ref>        an image name the shim knows; repeatable (default docker.io/library/busybox:latest)
  -h, --help           this help`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      listen: { type: "string", default: "unix:///tmp/host-shim.sock" },
      image: { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const runtime = createHostProcessRuntime(values.image ? { images: values.image } : {});
  const server = createCriServer({
    runtime,
    image: runtime,
    onInternalError: (err, method) => process.stderr.write(`${method}: ${err instanceof Error ? err.stack : err}\n`),
  });
  try {
    await server.listen(values.listen);
  } catch (err) {
    await runtime.close();
    throw err;
  }
  process.stdout.write(`host-process-shim listening on ${server.endpoint}\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.stdout.write(`${signal}: shutting down\n`);
  await server.close({ graceMs: 2_000 });
  await runtime.close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`host-process-shim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
