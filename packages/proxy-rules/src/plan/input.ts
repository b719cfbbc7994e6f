// The input every backend compiles, and what they share in reading it: lists, families, the
// order errors are reported in.

import { InvalidInputError } from "../errors.js";
import type { HostFacts, KubeProxyConfiguration, NodeInfo } from "../model/config.js";
import type { IPFamily } from "../model/ip.js";
import type { EndpointSlice, Service } from "../model/kube-types.js";
import { compareStrings, isCrossObjectError } from "./input-index.js";

/** The input of the compilers: the API objects and the node they are programmed on. */
export interface ProxyInput {
  /** v1 Services, as `kubectl get services -A -o json` lists them (`.items`). */
  readonly services: readonly Service[];
  /** discovery.k8s.io/v1 EndpointSlices. */
  readonly endpointSlices: readonly EndpointSlice[];
  /** The node kube-proxy runs on. */
  readonly node: NodeInfo;
  /** kube-proxy's configuration; every field defaults as in kube-proxy. */
  readonly config?: KubeProxyConfiguration | undefined;
  /** Facts kube-proxy probes on the host (iptables features, nfacct, sysctls). */
  readonly host?: HostFacts | undefined;
}

/** The error to throw of sorted errors: an object's own before a mismatch between objects. */
export function firstError(errors: readonly InvalidInputError[]): InvalidInputError {
  const first = errors.find((e) => !isCrossObjectError(e)) ?? errors[0];
  if (!first) throw new Error("firstError needs at least one error");
  return first;
}

/** The order errors are reported in: by kind, namespace, name, field. */
export function compareErrors(a: InvalidInputError, b: InvalidInputError): number {
  return (
    compareStrings(a.object.kind, b.object.kind) ||
    compareStrings(a.object.namespace ?? "", b.object.namespace ?? "") ||
    compareStrings(a.object.name ?? "", b.object.name ?? "") ||
    compareStrings(a.field, b.field) ||
    compareStrings(a.reason, b.reason)
  );
}

/** A list field of the input (absent: empty). */
export function asList<T>(v: readonly T[] | undefined, field: string): readonly T[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidInputError({ kind: "ProxyInput" }, field, "must be a list", v);
  return v;
}

/** The families of the node's addresses, in order (IPv4 when it has none). */
export function defaultFamilies(present: readonly IPFamily[]): IPFamily[] {
  const out: IPFamily[] = [];
  for (const f of present) if (!out.includes(f)) out.push(f);
  return out.length > 0 ? out : ["IPv4"];
}
