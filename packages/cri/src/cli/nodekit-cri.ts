// nodekit-cri: a crictl-style command line client for CRI runtimes (see README, "nodekit-cri").
import { runCli } from "./cri/run.js";

const ac = new AbortController();
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    if (ac.signal.aborted) process.exit(130); // a second signal: leave now
    ac.abort();
  });
}

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  now: () => Date.now(),
  signal: ac.signal,
  terminal: { stdin: process.stdin, stdout: process.stdout },
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`nodekit-cri: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
