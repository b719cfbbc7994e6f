export type { CaseContext, ConformanceArea, ConformanceCase } from "./cases.js";
export { conformanceCases, NotConfigured } from "./cases.js";
export type { KnownDifference } from "./known-differences.js";
export { knownDifferences } from "./known-differences.js";
export type { ConformanceOptions, ConformanceResult } from "./run-conformance.js";
export { conformancePassed, runConformance } from "./run-conformance.js";
