// biome-ignore-all lint/correctness/noUnusedVariables: the names are for the fragment placed at SNIPPET
// biome-ignore-all lint/correctness/noUnusedImports: the names are for the fragment placed at SNIPPET
// Setup of the fragments that use a shim's `server` (docs/writing-a-runtime-shim.md): a CRI server
// listening on the block's endpoint, closed after the fragment.
import * as setupCri from "@nodekit/cri";

const server = setupCri.createCriServer({});
await server.listen("unix:///run/my-shim/shim.sock");

/* SNIPPET */

await server.close();
