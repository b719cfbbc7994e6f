// @nodekit/cri/testing: test doubles and the conformance suite.

export type {
  FakeCall,
  FakeClock,
  FakeContainerBehaviour,
  FakeExecResult,
  FakeExit,
  FakePullScript,
  FakeRuntime,
  FakeRuntimeOptions,
} from "./fake-runtime.js";
export { createFakeRuntime, normalizeImageRef } from "./fake-runtime.js";
