// nodekit-cri-conformance: runs the conformance suite against a CRI endpoint and prints a report.
import { parseArgs } from "node:util";
import { createImageClient, createRuntimeClient } from "../client.js";
import { isUnavailable } from "../errors.js";
import { type ConformanceArea, conformanceCases } from "../testing/conformance/cases.js";
import { type ConformanceResult, conformancePassed, runConformance } from "../testing/conformance/run-conformance.js";

const usage = `Usage: nodekit-cri-conformance --endpoint unix:///path/runtime.sock [options]

Checks a CRI runtime against CRI semantics (runtime info, sandbox and container lifecycle, exec,
idempotency and NOT_FOUND rules, images, filters, stats, events). It creates and removes its own
sandboxes; run it against a runtime no kubelet is using.

Options:
  --endpoint <ep>          runtime endpoint (also CONTAINER_RUNTIME_ENDPOINT)
  --image-endpoint <ep>    image endpoint (default: the runtime endpoint; also IMAGE_SERVICE_ENDPOINT)
  --test-image <ref>       image with sh, echo and sleep (default docker.io/library/busybox:latest)
  --removable-image <ref>  an image the suite may remove (else image/remove is unsupported)
  --cgroup-parent <path>   put sandboxes under <path>/pod<uid> (cgroupfs)
  --log-directory <dir>    give each sandbox the log folder <dir>/<uid>
  --area <a,b,…>           only these areas
  --timeout <seconds>      per-case deadline (default 60)
  --json                   print the results as JSON
  -h, --help               this help

Exit status: 0 when no case failed (unsupported cases and listed known differences do not count),
1 otherwise, 2 on bad usage, 3 when the endpoint cannot be reached (no case is run).`;

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>["values"];
  try {
    ({ values } = parse());
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const endpoint = values.endpoint ?? process.env.CONTAINER_RUNTIME_ENDPOINT;
  if (!endpoint) {
    process.stderr.write(`missing --endpoint\n\n${usage}\n`);
    return 2;
  }
  const known = new Set(conformanceCases.map((c) => c.area));
  const areas = values.area?.split(",").map((a) => a.trim()) as ConformanceArea[] | undefined;
  const unknown = areas?.filter((a) => !known.has(a)) ?? [];
  if (unknown.length) {
    process.stderr.write(`unknown area ${unknown.join(", ")}; the areas are ${[...known].join(", ")}\n`);
    return 2;
  }
  const timeoutS = Number(values.timeout ?? 60);
  if (!(timeoutS > 0)) {
    process.stderr.write(`--timeout needs a number of seconds > 0, not ${JSON.stringify(values.timeout)}\n`);
    return 2;
  }
  const imageEndpoint = values["image-endpoint"] ?? process.env.IMAGE_SERVICE_ENDPOINT ?? endpoint;
  const runtime = createRuntimeClient(endpoint);
  const image = createImageClient(imageEndpoint);
  const cgroupParent = values["cgroup-parent"];
  const logDirectory = values["log-directory"];
  try {
    const results = await runConformance({
      runtime,
      image,
      ...(values["test-image"] ? { testImage: values["test-image"] } : {}),
      ...(values["removable-image"] ? { removableImage: values["removable-image"] } : {}),
      ...(areas ? { areas } : {}),
      caseTimeoutMs: timeoutS * 1000,
      sandboxConfig: (config) => ({
        ...config,
        ...(logDirectory ? { logDirectory: `${logDirectory}/${config.metadata?.uid}` } : {}),
        ...(cgroupParent
          ? { linux: { ...config.linux, cgroupParent: `${cgroupParent}/pod${config.metadata?.uid}` } }
          : {}),
      }),
      ...(values.json
        ? {}
        : {
            onResult: (r: ConformanceResult) => {
              const mark = r.status === "passed" ? "PASS" : r.knownDifference ? "KNOWN" : r.status.toUpperCase();
              const why = r.knownDifference ? r.knownDifference.reason : r.message;
              process.stdout.write(
                `${mark.padEnd(12)} ${r.name.padEnd(48)} ${String(r.durationMs).padStart(6)} ms  ${why}\n`,
              );
            },
          }),
    });
    const ok = conformancePassed(results);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ endpoint, passed: ok, results }, null, 2)}\n`);
    } else {
      const count = (s: string) => results.filter((r) => r.status === s).length;
      process.stdout.write(
        `\n${count("passed")} passed, ${count("failed")} failed, ${count("unsupported")} unsupported` +
          ` (${results.filter((r) => r.knownDifference).length} known differences): ${ok ? "CONFORMANT" : "NOT CONFORMANT"}\n`,
      );
    }
    return ok ? 0 : 1;
  } catch (err) {
    if (!isUnavailable(err)) throw err;
    process.stderr.write(`nodekit-cri-conformance: ${endpoint}: ${err.rawMessage}\n`);
    return 3;
  } finally {
    runtime.close();
    image.close();
  }
}

function parse() {
  return parseArgs({
    options: {
      endpoint: { type: "string" },
      "image-endpoint": { type: "string" },
      "test-image": { type: "string" },
      "removable-image": { type: "string" },
      "cgroup-parent": { type: "string" },
      "log-directory": { type: "string" },
      area: { type: "string" },
      timeout: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`nodekit-cri-conformance: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
