// biome-ignore-all lint/correctness/noUnusedVariables: the names are for the fragment placed at SNIPPET
// biome-ignore-all lint/correctness/noUnusedImports: the names are for the fragment placed at SNIPPET
// Setup of the fragments that use a page's clients: `runtime` and `images` (a runtime and an image
// client on one endpoint; the test serves the block's runtime there) and `containerId` (a running
// container, in a sandbox made here). The fragment runs where the SNIPPET comment is.
import * as setupCri from "@nodekit/cri";

const setupEndpoint = "unix:///run/containerd/containerd.sock";
const runtime = setupCri.createRuntimeClient(setupEndpoint);
const images = setupCri.createImageClient(setupEndpoint);
const setupSandboxConfig = { metadata: { name: "docs", namespace: "default", uid: "docs-uid-1", attempt: 0 } };
const { podSandboxId: setupSandboxId } = await runtime.runPodSandbox({ config: setupSandboxConfig });
const { containerId } = await runtime.createContainer({
  podSandboxId: setupSandboxId,
  config: {
    metadata: { name: "app" },
    image: { image: "docker.io/library/busybox:latest" },
    command: ["sleep", "3600"],
  },
  sandboxConfig: setupSandboxConfig,
});
await runtime.startContainer({ containerId });

/* SNIPPET */

await runtime.removePodSandbox({ podSandboxId: setupSandboxId });
runtime.close();
images.close();
