// @nodekit/kubelet-core/testing: virtual time and scenario helpers for offline tests.

export type { FakeClock } from "./fake-clock.js";
export { createFakeClock } from "./fake-clock.js";
export type { Scenario, ScenarioOptions, StatusSample } from "./scenario.js";
export { createScenario } from "./scenario.js";
