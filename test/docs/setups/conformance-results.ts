// biome-ignore-all lint/correctness/noUnusedVariables: the names are for the fragment placed at SNIPPET
// biome-ignore-all lint/correctness/noUnusedImports: the names are for the fragment placed at SNIPPET
// Setup of the fragments that read conformance `results` (docs/writing-a-runtime-shim.md) with
// vitest's `expect`: the suite's results for a shim that is the fake runtime without
// GetContainerEvents, served on a socket and reached through the clients (as the page's own run).
import * as setupCri from "@nodekit/cri";
import * as setupTesting from "@nodekit/cri/testing";
import { expect } from "vitest";

const setupFake = setupTesting.createFakeRuntime();
setupFake.addImage("docker.io/library/alpine:3.20", 3_000_000);
const { getContainerEvents: _setupLeftOut, ...setupShim } = setupFake;
const setupEndpoint = "unix:///run/my-shim/shim.sock";
const setupServer = setupCri.createCriServer({ runtime: setupShim, image: setupFake });
await setupServer.listen(setupEndpoint);
const setupRuntime = setupCri.createRuntimeClient(setupEndpoint);
const setupImages = setupCri.createImageClient(setupEndpoint);
const results = await setupTesting.runConformance({
  runtime: setupRuntime,
  image: setupImages,
  removableImage: "docker.io/library/alpine:3.20",
});

/* SNIPPET */

setupRuntime.close();
setupImages.close();
await setupServer.close();
