// @nodekit/cri/testing: test doubles and the conformance suite.

export type {
  CaseContext,
  ConformanceArea,
  ConformanceCase,
  ConformanceOptions,
  ConformanceResult,
  KnownDifference,
} from "./conformance/index.js";
export {
  conformanceCases,
  conformancePassed,
  knownDifferences,
  NotConfigured,
  runConformance,
} from "./conformance/index.js";
export type {
  FakeCall,
  FakeContainerBehaviour,
  FakeExecResult,
  FakeExit,
  FakePullScript,
  FakeRuntime,
  FakeRuntimeClock,
  FakeRuntimeOptions,
} from "./fake-runtime.js";
export { createFakeRuntime } from "./fake-runtime.js";
