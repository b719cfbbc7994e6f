/** The outcome of one probe run, as the kubelet's probers return it (`probe.Result` and output). */
export interface ProbeOutcome {
  /** `warning` is a success with something to report (an HTTP redirect to another host). */
  result: "success" | "warning" | "failure" | "unknown";
  /** What the probe said: a command's output, a response body, or why it failed. */
  output: string;
}
