// The operations a reconcile plan is made of (ipvsadm, ipset, ip), and their text forms.

import { createOptions, type IpsetType } from "./ipsets.js";
import { addrCommand, IPVS_DUMMY_DEVICE, realServerArgs, serviceArgs, serviceOptions } from "./render.js";
import type { IpvsProtocol, IpvsRealServer, IpvsVirtualServer } from "./services.js";

/** One command of a reconcile plan: the tool and its arguments (without the program name). */
export type IpvsOperation =
  | {
      readonly tool: "ipvsadm";
      readonly op: "add-service" | "edit-service" | "delete-service" | "add-server" | "edit-server" | "delete-server";
      readonly args: readonly string[];
    }
  | { readonly tool: "ipset"; readonly op: "create" | "destroy" | "add" | "del"; readonly args: readonly string[] }
  | { readonly tool: "ip"; readonly op: "link-add" | "addr-add" | "addr-del"; readonly args: readonly string[] };

/** A real server kept at weight 0 until its connections are gone (kube-proxy's graceful termination). */
export interface IpvsDrainingServer {
  /** The virtual server's key (`10.96.0.10:80/TCP`). */
  readonly virtualServer: string;
  /** `ip:port` of the real server. */
  readonly realServer: string;
  /** Connections the real server still has, when known (from `ipvsadm -L -n`). */
  readonly activeConnections: number | undefined;
  readonly inactiveConnections: number | undefined;
}

/** The commands that bring the kernel to the desired IPVS state, in the order to run them. */
export interface IpvsReconcilePlan {
  readonly operations: readonly IpvsOperation[];
  /** Real servers left at weight 0: plan again later (with connection counts) to remove them. */
  readonly draining: readonly IpvsDrainingServer[];
  /** The ipvsadm operations as `ipvsadm-restore` input. */
  readonly ipvsadmText: string;
  /** The ipset operations as `ipset restore` input. */
  readonly ipsetText: string;
  /** The ip operations as `ip -batch` input. */
  readonly ipText: string;
}

/** Collects operations in their phases (the order kube-proxy's sync makes them in). */
export class OperationList {
  readonly link: IpvsOperation[] = [];
  readonly createSets: IpvsOperation[] = [];
  readonly services: IpvsOperation[] = [];
  readonly bind: IpvsOperation[] = [];
  readonly delEntries: IpvsOperation[] = [];
  readonly entries: IpvsOperation[] = [];
  readonly unbind: IpvsOperation[] = [];
  readonly deleteServices: IpvsOperation[] = [];
  readonly draining: IpvsDrainingServer[] = [];

  linkAdd(): void {
    this.link.push({ tool: "ip", op: "link-add", args: ["link", "add", IPVS_DUMMY_DEVICE, "type", "dummy"] });
  }
  createSet(name: string, type: IpsetType, family: "IPv4" | "IPv6"): void {
    this.createSets.push({
      tool: "ipset",
      op: "create",
      args: ["create", name, type, ...createOptions(type, family).split(" ")],
    });
  }
  destroySet(name: string): void {
    this.createSets.push({ tool: "ipset", op: "destroy", args: ["destroy", name] });
  }
  addService(vs: IpvsVirtualServer): void {
    this.services.push({ tool: "ipvsadm", op: "add-service", args: ["-A", ...serviceArgs(vs), ...serviceOptions(vs)] });
  }
  editService(vs: IpvsVirtualServer): void {
    this.services.push({
      tool: "ipvsadm",
      op: "edit-service",
      args: ["-E", ...serviceArgs(vs), ...serviceOptions(vs)],
    });
  }
  deleteService(vs: { address: string; port: number; protocol: IpvsProtocol }): void {
    this.deleteServices.push({ tool: "ipvsadm", op: "delete-service", args: ["-D", ...serviceArgs(vs)] });
  }
  addServer(vs: { address: string; port: number; protocol: IpvsProtocol }, rs: IpvsRealServer): void {
    this.services.push({ tool: "ipvsadm", op: "add-server", args: ["-a", ...serviceArgs(vs), ...realServerArgs(rs)] });
  }
  editServer(vs: { address: string; port: number; protocol: IpvsProtocol }, rs: IpvsRealServer): void {
    this.services.push({ tool: "ipvsadm", op: "edit-server", args: ["-e", ...serviceArgs(vs), ...realServerArgs(rs)] });
  }
  deleteServer(
    vs: { address: string; port: number; protocol: IpvsProtocol },
    rs: { address: string; port: number },
  ): void {
    const r = rs.address.indexOf(":") >= 0 ? `[${rs.address}]:${rs.port}` : `${rs.address}:${rs.port}`;
    this.services.push({ tool: "ipvsadm", op: "delete-server", args: ["-d", ...serviceArgs(vs), "-r", r] });
  }
  bindAddress(address: string): void {
    this.bind.push({ tool: "ip", op: "addr-add", args: addrCommand("add", address) });
  }
  unbindAddress(address: string): void {
    this.unbind.push({ tool: "ip", op: "addr-del", args: addrCommand("del", address) });
  }
  addEntry(set: string, entry: string): void {
    this.entries.push({ tool: "ipset", op: "add", args: ["add", set, entry] });
  }
  delEntry(set: string, entry: string): void {
    // deletions first, as kube-proxy's syncIPSetEntries cleans legacy entries before adding
    this.delEntries.push({ tool: "ipset", op: "del", args: ["del", set, entry] });
  }

  plan(): IpvsReconcilePlan {
    const operations = [
      ...this.link,
      ...this.createSets,
      ...this.services,
      ...this.bind,
      ...this.delEntries,
      ...this.entries,
      ...this.unbind,
      ...this.deleteServices,
    ];
    const text = (tool: IpvsOperation["tool"]) =>
      operations
        .filter((o) => o.tool === tool)
        .map((o) => `${o.args.join(" ")}\n`)
        .join("");
    return {
      operations,
      draining: this.draining,
      ipvsadmText: text("ipvsadm"),
      ipsetText: text("ipset"),
      ipText: text("ip"),
    };
  }
}

/** Whether kube-proxy drains a removed real server of this protocol rather than deleting it at once. */
export function gracefulTerminationNeeded(protocol: IpvsProtocol): boolean {
  return protocol === "TCP";
}
