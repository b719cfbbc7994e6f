// biome-ignore-all lint/correctness/noUnusedVariables: the names are for the fragment placed at SNIPPET
// biome-ignore-all lint/correctness/noUnusedImports: the names are for the fragment placed at SNIPPET
// Setup of the fragments that use the `pod` of docs/getting-started.md (its section 2).
import type { Pod as SetupPod } from "@nodekit/kubelet-core";

const pod: SetupPod = {
  metadata: { name: "web", namespace: "default", uid: "web-uid-1" },
  spec: { containers: [{ name: "app", image: "nginx:1.27" }] },
};

/* SNIPPET */
