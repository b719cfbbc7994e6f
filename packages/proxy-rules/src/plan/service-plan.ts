// Plans of whole Services: the ports of one family with their endpoints checked against the
// Service, planned port by port (service-port-plan.ts). Shared by every backend and by the
// helpers beside the compilers (conntrack cleanup, health checks).

import { InvalidInputError } from "../errors.js";
import type { FamilyContext } from "../model/context.js";
import type { IPFamily } from "../model/ip.js";
import type { NormalizedService, NormalizedSlice } from "../model/normalize.js";
import {
  clusterIPOf,
  endpointsFor,
  readyClusterRows,
  type ServicePortInfo,
  servicePortsFor,
} from "../model/service-port.js";
import { asList, compareErrors, firstError, type ProxyInput } from "./input.js";
import { crossObjectError, InputIndex, type SliceGroup } from "./input-index.js";
import { planServicePort, type ServicePortPlan } from "./service-port-plan.js";

/** A Service of one family, planned: its ports and what its slices gave them. */
export interface ServicePlan {
  /** `namespace/name`. */
  readonly key: string;
  readonly svc: NormalizedService;
  /** The slices it was planned from (compared by identity: same slices, same plan). */
  readonly group: SliceGroup;
  readonly ports: readonly ServicePortPlan[];
  /** Endpoints over all ports (the count behind iptables' large-cluster mode). */
  readonly endpointCount: number;
  /** Its slices that do not match it (left out). */
  readonly errors: readonly InvalidInputError[];
}

const NO_ERRORS: readonly InvalidInputError[] = [];
/** No slices. */
export const EMPTY_GROUP: SliceGroup = [];

/** Plans a Service of the context's family from its valid slices. */
export function planService(ctx: FamilyContext, key: string, norm: NormalizedService, group: SliceGroup): ServicePlan {
  const ports = servicePortsFor(norm, ctx.config.family);
  const { usable, errors } = checkSlices(norm, ports, group, ctx.config.family);
  let endpointCount = 0;
  const plans = ports.map((sp): ServicePortPlan => {
    const rows = readyClusterRows(sp, usable);
    if (rows) {
      endpointCount += rows.ips.length;
      return planServicePort(ctx, sp, rows);
    }
    const endpoints = endpointsFor(sp, usable, ctx.topology.nodeName);
    endpointCount += endpoints.length;
    return planServicePort(ctx, sp, endpoints);
  });
  return { key, svc: norm, group, ports: plans, endpointCount, errors };
}

/**
 * Cross-object check of a Service's slices (of this family): every port of a slice must match a
 * port (name and protocol) of the Service. Slices that do not are left out and reported.
 */
export function checkSlices(
  svc: NormalizedService,
  ports: readonly ServicePortInfo[],
  slices: readonly NormalizedSlice[],
  family: IPFamily,
): { usable: readonly NormalizedSlice[]; errors: readonly InvalidInputError[] } {
  let errors: InvalidInputError[] | undefined;
  if (ports.length === 0) return { usable: [], errors: NO_ERRORS };
  // the slices themselves when all are usable (the common case), else the usable ones
  let usable: NormalizedSlice[] | undefined;
  for (const [i, s] of slices.entries()) {
    const bad = s.family === family ? unmatchedPort(s, ports) : -2;
    if (bad === -1) {
      usable?.push(s);
      continue;
    }
    usable ??= slices.slice(0, i);
    if (bad === -2) continue;
    const p = s.ports[bad];
    if (!p) continue; // unmatchedPort gives an index of s.ports
    errors ??= [];
    errors.push(
      crossObjectError(
        new InvalidInputError(
          { kind: "EndpointSlice", namespace: svc.namespace, name: s.name },
          `ports[${bad}]`,
          `port ${JSON.stringify(p.name)}/${p.protocol.toUpperCase()} matches no port of Service ${JSON.stringify(svc.key)}`,
          p,
        ),
      ),
    );
  }
  return { usable: usable ?? slices, errors: errors ?? NO_ERRORS };
}

/** The index of the first port of the slice that matches no Service port (name and protocol), or -1. */
function unmatchedPort(s: NormalizedSlice, ports: readonly ServicePortInfo[]): number {
  for (const [j, p] of s.ports.entries()) {
    if (!ports.some((q) => q.portName === p.name && q.protocol === p.protocol)) return j;
  }
  return -1;
}

/**
 * Validates and indexes the input as the compilers do, then visits every valid Service, in
 * `namespace/name` order, once per family, with its ports and the slices that match them.
 * Throws the first error unless `partial`.
 */
export function visitServicePorts(
  input: Pick<ProxyInput, "services" | "endpointSlices">,
  families: readonly IPFamily[],
  partial: boolean,
  visit: (
    svc: NormalizedService,
    family: IPFamily,
    ports: ServicePortInfo[],
    slices: readonly NormalizedSlice[],
  ) => void,
): void {
  const index = new InputIndex();
  index.build(asList(input.services, "services"), asList(input.endpointSlices, "endpointSlices"));
  index.sortGroups();
  const errors = index.errors();
  for (const key of index.sortedKeys()) {
    const svc = index.serviceByKey.get(key);
    if (!svc) continue; // sortedKeys are the index's keys
    for (const family of families) {
      const ports = servicePortsFor(svc, family);
      const { usable, errors: mismatches } = checkSlices(svc, ports, index.groups.get(key) ?? EMPTY_GROUP, family);
      errors.push(...mismatches);
      visit(svc, family, ports, usable);
    }
  }
  if (errors.length > 0 && !partial) {
    errors.sort(compareErrors);
    throw firstError(errors);
  }
}

/**
 * An upper bound of the endpoints a Service's ports get from its slices of the family (what
 * `endpointsFor` counts, before de-duplication and without leaving out mismatched slices): a slice
 * port matches at most one Service port and gives each of the slice's endpoints once.
 */
export function endpointBound(svc: NormalizedService, slices: readonly NormalizedSlice[], family: IPFamily): number {
  if (svc.skip || clusterIPOf(svc, family) === undefined) return 0;
  let n = 0;
  for (const s of slices) if (s.family === family) n += s.ips.length * s.ports.length;
  return n;
}
