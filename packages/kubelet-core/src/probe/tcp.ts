import { connect } from "node:net";
import { goDialError, goDialTimeout, joinHostPort } from "./go-format.js";
import type { ProbeOutcome } from "./outcome.js";

/**
 * The kubelet's TCP prober (`DoTCPProbe`): success when a connection to `host:port` opens within
 * `timeoutMs`, else failure with Go's dial error (`dial tcp 10.0.0.5:80: connect: connection
 * refused`, `dial tcp 10.0.0.5:80: i/o timeout`).
 */
export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  // No host (a pod without an IP): Go dials the local system, and names the address it dialed.
  const target = host || "127.0.0.1";
  const addr = joinHostPort(target, port);
  return new Promise((resolve) => {
    const socket = connect({ host: target, port });
    const timer = setTimeout(() => done({ result: "failure", output: goDialTimeout(addr) }), timeoutMs);
    const done = (outcome: ProbeOutcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    socket.once("connect", () => done({ result: "success", output: "" }));
    socket.once("error", (err) => done({ result: "failure", output: goDialError(addr, target, err) }));
  });
}
