// The validated input, indexed by Service: which Service objects are valid, their slices, and
// the errors of invalid objects. Built once, then updated from one compilation to the next by
// comparing the input arrays element by element (objects are compared by identity), so that an
// incremental compilation costs O(changed objects) rather than O(all objects).

import { InvalidInputError } from "../errors.js";
import type { EndpointSlice, Service } from "../model/kube-types.js";
import {
  LABEL_SERVICE_NAME,
  type NormalizedService,
  type NormalizedSlice,
  normalizeService,
  normalizeSlice,
} from "../model/normalize.js";
import type { UndoLog } from "./undo-log.js";

/**
 * What an input object normalised to: its normalised form, or its errors (none for an object
 * that is ignored, like an FQDN slice).
 */
type Normalized<T> = T | readonly InvalidInputError[];

function isErrors<T>(n: Normalized<T>): n is readonly InvalidInputError[] {
  return Array.isArray(n);
}

/** The valid slices of one Service, sorted by name. The arrays are replaced, never changed in place. */
export type SliceGroup = readonly NormalizedSlice[];

/** More changed objects than this and an update rebuilds the index instead. */
const MAX_UPDATES = 512;

export class InputIndex {
  /** The indexed input, and the normalised form of each object at the same position. */
  private services: Service[] = [];
  private slices: EndpointSlice[] = [];
  private serviceNorms: (Normalized<NormalizedService> | undefined)[] = [];
  private sliceNorms: (Normalized<NormalizedSlice> | undefined)[] = [];
  /** While building: the normalised objects of an earlier index, by object (not kept). */
  private reuseServices: Map<object, Normalized<NormalizedService>> | undefined;
  private reuseSlices: Map<object, Normalized<NormalizedSlice>> | undefined;
  /** The valid Services, by `namespace/name`. */
  readonly serviceByKey = new Map<string, NormalizedService>();
  readonly groups = new Map<string, SliceGroup>();
  private readonly sliceById = new Map<string, EndpointSlice>();
  /** Errors of invalid objects (their own, or being a duplicate). */
  private readonly invalid = new Map<object, readonly InvalidInputError[]>();
  /** Keys of slice groups whose Service is not in the input. */
  private readonly orphans = new Set<string>();
  /** Keys and ids that have (or had) duplicates: updates touching them rebuild. */
  private readonly contested = new Set<string>();
  /** Node ports (and health check node ports) of the valid Services: port → Service key. */
  private readonly nodePorts = new Map<number, string>();
  /** While {@link update} runs: where its changes are recorded, so that they can be undone. */
  private log: UndoLog | undefined;

  /** `earlier`: an index whose normalised objects may be reused (objects are compared by identity). */
  constructor(private readonly earlier?: InputIndex) {}

  /** Indexes the input from scratch. */
  build(services: readonly Service[], slices: readonly EndpointSlice[]): void {
    if (this.earlier) {
      this.reuseServices = pairs(this.earlier.services, this.earlier.serviceNorms);
      this.reuseSlices = pairs(this.earlier.slices, this.earlier.sliceNorms);
    }
    this.services = services.slice();
    this.slices = slices.slice();
    this.serviceNorms = new Array(services.length);
    this.sliceNorms = new Array(slices.length);
    services.forEach((svc, i) => {
      this.addService(svc, i, true);
    });
    this.allocateNodePorts();
    slices.forEach((slice, i) => {
      this.addSlice(slice, i, true);
    });
    for (const key of this.groups.keys()) if (!this.serviceByKey.has(key)) this.orphans.add(key);
    this.reuseServices = undefined;
    this.reuseSlices = undefined;
  }

  private checkOrphan(key: string): void {
    if (this.groups.has(key) && !this.serviceByKey.has(key)) this.setAdd(this.orphans, key);
    else this.setDelete(this.orphans, key);
  }

  /**
   * Gives every valid Service its node ports, as the API server's allocator would have: a port
   * goes to one Service (for all protocols). When two ask for one, the first by `namespace/name`
   * keeps it and the other is invalid (both keys are then contested: updates touching them rebuild).
   */
  private allocateNodePorts(): void {
    let conflict = false;
    for (const svc of this.serviceByKey.values()) {
      if (svc.skip) continue;
      for (let i = -1; i < svc.ports.length; i++) {
        const port = i < 0 ? svc.healthCheckNodePort : (svc.ports[i]?.nodePort ?? 0);
        if (port === 0) continue;
        const owner = this.nodePorts.get(port);
        if (owner === undefined) this.nodePorts.set(port, svc.key);
        else if (owner !== svc.key) conflict = true;
      }
    }
    if (!conflict) return;
    // the rare case: allocate again in key order
    this.nodePorts.clear();
    const claimants = [...this.serviceByKey.values()].filter((s) => !s.skip && hasNodePorts(s));
    claimants.sort((x, y) => compareStrings(x.key, y.key));
    for (const svc of claimants) {
      const taken = this.takenNodePort(svc);
      if (taken === undefined) {
        this.claimNodePorts(svc);
        continue;
      }
      this.serviceByKey.delete(svc.key);
      this.invalid.set(svc.raw, [nodePortError(svc, taken.field, taken.port, taken.owner)]);
      this.contested.add(svc.key);
      this.contested.add(taken.owner);
    }
  }

  /** The first node port of `svc` another Service has, if any. */
  private takenNodePort(svc: NormalizedService): { port: number; field: string; owner: string } | undefined {
    if (svc.skip) return undefined;
    for (const [i, { nodePort: port }] of svc.ports.entries()) {
      const owner = port === 0 ? undefined : this.nodePorts.get(port);
      if (owner !== undefined && owner !== svc.key) return { port, field: `spec.ports[${i}].nodePort`, owner };
    }
    const port = svc.healthCheckNodePort;
    const owner = port === 0 ? undefined : this.nodePorts.get(port);
    if (owner !== undefined && owner !== svc.key) return { port, field: "spec.healthCheckNodePort", owner };
    return undefined;
  }

  private claimNodePorts(svc: NormalizedService): void {
    if (svc.skip) return;
    for (let i = -1; i < svc.ports.length; i++) {
      const port = i < 0 ? svc.healthCheckNodePort : (svc.ports[i]?.nodePort ?? 0);
      if (port !== 0) this.mapSet(this.nodePorts, port, svc.key);
    }
  }

  private releaseNodePorts(svc: NormalizedService): void {
    if (svc.skip) return;
    for (let i = -1; i < svc.ports.length; i++) {
      const port = i < 0 ? svc.healthCheckNodePort : (svc.ports[i]?.nodePort ?? 0);
      if (port !== 0 && this.nodePorts.get(port) === svc.key) this.mapDelete(this.nodePorts, port);
    }
  }

  // Changes of the index's maps, sets and arrays: recorded while an update runs.
  private mapSet<K, V>(m: Map<K, V>, k: K, v: V): void {
    if (this.log) this.log.mapSet(m, k, v);
    else m.set(k, v);
  }
  private mapDelete<K, V>(m: Map<K, V>, k: K): void {
    if (this.log) this.log.mapDelete(m, k);
    else m.delete(k);
  }
  private setAdd<T>(s: Set<T>, v: T): void {
    if (this.log) this.log.setAdd(s, v);
    else s.add(v);
  }
  private setDelete<T>(s: Set<T>, v: T): void {
    if (this.log) this.log.setDelete(s, v);
    else s.delete(v);
  }
  private arraySet<T>(a: T[], i: number, v: T): void {
    if (this.log) this.log.arraySet(a, i, v);
    else a[i] = v;
  }

  /**
   * Applies the differences between the indexed input and the new one. Returns the keys of the
   * Services whose Service object or slices changed, or `undefined` when the change cannot be
   * applied in place (then build a new index). Every change is recorded in `log`: rolling it back
   * restores the index as it was (also needed after `undefined`, which may come halfway).
   */
  update(services: readonly Service[], slices: readonly EndpointSlice[], log: UndoLog): Set<string> | undefined {
    if (services.length !== this.services.length || slices.length !== this.slices.length) return undefined;
    this.log = log;
    try {
      return this.applyUpdate(services, slices);
    } finally {
      this.log = undefined;
    }
  }

  private applyUpdate(services: readonly Service[], slices: readonly EndpointSlice[]): Set<string> | undefined {
    const svcChanged = changedIndexes(this.services, services);
    const sliceChanged = changedIndexes(this.slices, slices);
    if (!svcChanged || !sliceChanged) return undefined;
    const dirty = new Set<string>();
    for (const i of svcChanged) {
      // changedIndexes gives indexes of both lists
      const before = this.services[i];
      const after = services[i];
      if (before === undefined || after === undefined) return undefined;
      const oldKey = keyOf(this.serviceNorms[i]);
      const afterNorm = normalizeServiceAt(after, i);
      const newKey = keyOf(afterNorm);
      if ((oldKey && this.contested.has(oldKey)) || (newKey && this.contested.has(newKey))) return undefined;
      if (newKey && newKey !== oldKey && this.serviceByKey.has(newKey)) return undefined; // would collide
      this.removeService(before, i);
      this.arraySet(this.services, i, after);
      this.arraySet(this.serviceNorms, i, afterNorm);
      if (!isErrors(afterNorm) && this.takenNodePort(afterNorm) !== undefined) return undefined; // a rebuild tells who keeps it
      this.addService(after, i, false);
      if (oldKey) dirty.add(oldKey);
      if (newKey) dirty.add(newKey);
    }
    for (const key of dirty) this.checkOrphan(key);
    for (const i of sliceChanged) {
      const before = this.slices[i];
      const after = slices[i];
      if (before === undefined || after === undefined) return undefined;
      const oldNorm = sliceOf(this.sliceNorms[i]);
      const afterNorm = normalizeSliceAt(after, i);
      const newNorm = sliceOf(afterNorm);
      if ((oldNorm && this.contested.has(oldNorm.id)) || (newNorm && this.contested.has(newNorm.id))) return undefined;
      if (newNorm && newNorm.id !== oldNorm?.id && this.sliceById.has(newNorm.id)) return undefined;
      this.removeSlice(before, i);
      this.arraySet(this.slices, i, after);
      this.arraySet(this.sliceNorms, i, afterNorm);
      this.addSlice(after, i, false);
      if (oldNorm) {
        dirty.add(oldNorm.serviceKey);
        this.checkOrphan(oldNorm.serviceKey);
      }
      if (newNorm) {
        dirty.add(newNorm.serviceKey);
        this.checkOrphan(newNorm.serviceKey);
      }
    }
    return dirty;
  }

  /**
   * All errors: invalid objects, and slices naming a Service that is not in the input or is
   * invalid (those are marked as {@link isCrossObjectError}: the Service's own error says more).
   */
  errors(): InvalidInputError[] {
    const out: InvalidInputError[] = [];
    const invalidServices = new Set<string>();
    for (const errs of this.invalid.values()) {
      for (const e of errs) {
        out.push(e);
        if (e.object.kind === "Service" && e.object.namespace !== undefined && e.object.name !== undefined) {
          invalidServices.add(`${e.object.namespace}/${e.object.name}`);
        }
      }
    }
    for (const key of [...this.orphans].sort(compareStrings)) {
      const group = this.groups.get(key) ?? []; // an orphan is a key of `groups`
      const ns = key.slice(0, key.indexOf("/"));
      const why = invalidServices.has(key) ? "which is invalid" : "which is not in the input";
      for (const s of group) {
        out.push(
          crossObjectError(
            new InvalidInputError(
              { kind: "EndpointSlice", namespace: ns, name: s.name },
              `metadata.labels["${LABEL_SERVICE_NAME}"]`,
              `names Service ${JSON.stringify(key)}, ${why}`,
              key.slice(ns.length + 1),
            ),
          ),
        );
      }
    }
    return out;
  }

  /** Keys of the valid Services, sorted. */
  sortedKeys(): string[] {
    const keys = [...this.serviceByKey.keys()];
    for (let i = 1; i < keys.length; i++)
      if (compareStrings(keys[i - 1] ?? "", keys[i] ?? "") > 0) return keys.sort(compareStrings);
    return keys;
  }

  /** The normalised object at position `i` (computed, or reused from the earlier index, once). */
  private normService(raw: Service, i: number): Normalized<NormalizedService> {
    let n = this.serviceNorms[i];
    if (!n) {
      n = this.reuseServices?.get(raw) ?? normalizeServiceAt(raw, i);
      this.arraySet(this.serviceNorms, i, n);
    }
    return n;
  }

  private normSlice(raw: EndpointSlice, i: number): Normalized<NormalizedSlice> {
    let n = this.sliceNorms[i];
    if (!n) {
      n = this.reuseSlices?.get(raw) ?? normalizeSliceAt(raw, i);
      this.arraySet(this.sliceNorms, i, n);
    }
    return n;
  }

  private addService(raw: Service, i: number, building: boolean): void {
    const norm = this.normService(raw, i);
    if (isErrors(norm)) {
      if (norm.length > 0) this.mapSet(this.invalid, raw, norm);
      return;
    }
    if (this.serviceByKey.has(norm.key)) {
      if (building) this.contested.add(norm.key);
      this.mapSet(this.invalid, raw, [
        new InvalidInputError(
          { kind: "Service", namespace: norm.namespace, name: norm.name },
          "metadata.name",
          "duplicate Service",
          norm.name,
        ),
      ]);
      return;
    }
    this.mapSet(this.serviceByKey, norm.key, norm);
    if (!building) this.claimNodePorts(norm);
  }

  private removeService(raw: Service, i: number): void {
    this.mapDelete(this.invalid, raw);
    const key = keyOf(this.serviceNorms[i]);
    const svc = key === undefined ? undefined : this.serviceByKey.get(key);
    if (svc?.raw === raw) {
      this.releaseNodePorts(svc);
      this.mapDelete(this.serviceByKey, svc.key);
    }
  }

  private addSlice(raw: EndpointSlice, i: number, building: boolean): void {
    const norm = this.normSlice(raw, i);
    if (isErrors(norm)) {
      if (norm.length > 0) this.mapSet(this.invalid, raw, norm);
      return; // (none: an FQDN slice, ignored)
    }
    if (this.sliceById.has(norm.id)) {
      if (building) this.contested.add(norm.id);
      this.mapSet(this.invalid, raw, [
        new InvalidInputError(
          { kind: "EndpointSlice", namespace: norm.namespace, name: norm.name },
          "metadata.name",
          "duplicate EndpointSlice",
          norm.name,
        ),
      ]);
      return;
    }
    this.mapSet(this.sliceById, norm.id, raw);
    const group = this.groups.get(norm.serviceKey);
    if (building) {
      if (group) (group as NormalizedSlice[]).push(norm);
      else this.groups.set(norm.serviceKey, [norm]);
      return;
    }
    // keep the order of slice names, so that results do not depend on update history
    const norms = group ? group.slice() : [];
    let at = norms.length;
    for (let before = norms[at - 1]; before && compareStrings(before.name, norm.name) > 0; before = norms[at - 1]) at--;
    norms.splice(at, 0, norm);
    this.mapSet(this.groups, norm.serviceKey, norms);
  }

  private removeSlice(raw: EndpointSlice, i: number): void {
    this.mapDelete(this.invalid, raw);
    const norm = sliceOf(this.sliceNorms[i]);
    if (!norm || this.sliceById.get(norm.id) !== raw) return;
    this.mapDelete(this.sliceById, norm.id);
    const group = this.groups.get(norm.serviceKey);
    if (!group) return;
    const at = group.indexOf(norm);
    if (at < 0) return;
    if (group.length === 1) {
      this.mapDelete(this.groups, norm.serviceKey);
      return;
    }
    const norms = group.slice();
    norms.splice(at, 1);
    this.mapSet(this.groups, norm.serviceKey, norms);
  }

  /** Sorts every group's slices by name (after a build), for results independent of input order. */
  sortGroups(): void {
    for (const [key, g] of this.groups) {
      if (g.length < 2) continue;
      this.groups.set(
        key,
        g.slice().sort((a, b) => compareStrings(a.name, b.name)),
      );
    }
  }
}

const crossObjectErrors = new WeakSet<InvalidInputError>();

/** Marks an error as a mismatch between objects (a slice and its Service) rather than an object's own. */
export function crossObjectError(e: InvalidInputError): InvalidInputError {
  crossObjectErrors.add(e);
  return e;
}

/**
 * Whether the error is a mismatch between objects. Such an error is thrown only when no object
 * has an error of its own: a slice of an invalid Service is reported, but the Service's error is
 * what a caller needs to see first.
 */
export function isCrossObjectError(e: InvalidInputError): boolean {
  return crossObjectErrors.has(e);
}

function normalizeServiceAt(raw: Service, i: number): Normalized<NormalizedService> {
  const n = normalizeService(raw, () => `services[${i}]`);
  return n.service ?? n.errors;
}

function normalizeSliceAt(raw: EndpointSlice, i: number): Normalized<NormalizedSlice> {
  const n = normalizeSlice(raw, () => `endpointSlices[${i}]`);
  return n.slice ?? n.errors;
}

function hasNodePorts(svc: NormalizedService): boolean {
  if (svc.healthCheckNodePort !== 0) return true;
  for (const p of svc.ports) if (p.nodePort !== 0) return true;
  return false;
}

function nodePortError(svc: NormalizedService, field: string, port: number, owner: string): InvalidInputError {
  return new InvalidInputError(
    { kind: "Service", namespace: svc.namespace, name: svc.name },
    field,
    `provided port ${port} is already allocated (to Service ${JSON.stringify(owner)}), as the API server would say`,
    port,
  );
}

function keyOf(n: Normalized<NormalizedService> | undefined): string | undefined {
  return n === undefined || isErrors(n) ? undefined : n.key;
}

function sliceOf(n: Normalized<NormalizedSlice> | undefined): NormalizedSlice | undefined {
  return n === undefined || isErrors(n) ? undefined : n;
}

/** Object → its normalised form, from parallel arrays (non-objects left out). */
function pairs<T>(raws: readonly unknown[], norms: readonly (T | undefined)[]): Map<object, T> {
  const out = new Map<object, T>();
  for (let i = 0; i < raws.length; i++) {
    const raw = raws[i];
    const norm = norms[i];
    if (typeof raw === "object" && raw !== null && norm !== undefined) out.set(raw, norm);
  }
  return out;
}

function changedIndexes(before: readonly unknown[], after: readonly unknown[]): number[] | undefined {
  const out: number[] = [];
  for (let i = 0; i < after.length; i++) {
    if (before[i] !== after[i]) {
      out.push(i);
      if (out.length > MAX_UPDATES) return undefined;
    }
  }
  return out;
}

/** Plain code-unit comparison (Go's string order for ASCII). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
