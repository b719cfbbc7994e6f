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
export { createFakeRuntime, DEFAULT_CALL_LOG_BYTES, DEFAULT_EVENT_QUEUE_LIMIT } from "./fake-runtime.js";
