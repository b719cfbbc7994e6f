import type { Container } from "../pod.js";
import { goQuote } from "./go-format.js";

/**
 * The kubelet's `probe.ResolveContainerPort` for probes and httpGet hooks: a number is the port;
 * a string names one of the container's ports, or else is read as a number. Throws an `Error`
 * with the kubelet's text (`strconv.Atoi: parsing "web": invalid syntax`,
 * `invalid port number: 0`) when neither gives a port in 1–65535.
 */
export function resolveContainerPort(port: number | string, container: Pick<Container, "ports">): number {
  let value: number;
  if (typeof port === "number") {
    value = port;
  } else {
    const named = container.ports?.find((p) => p.name === port);
    if (named) value = named.containerPort;
    else if (/^[+-]?\d+$/.test(port)) value = Number(port);
    else throw new Error(`strconv.Atoi: parsing ${goQuote(port)}: invalid syntax`);
  }
  if (Number.isInteger(value) && value > 0 && value < 65536) return value;
  throw new Error(`invalid port number: ${value}`);
}
