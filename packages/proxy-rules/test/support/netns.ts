// A throwaway network-namespace topology for kernel tests (after ../shared/recipes/netns):
//
//   client 192.168.77.2 ==veth== node 192.168.77.1 (the node IP)
//          fd00:77::2                 fd00:77::1
//                                node cbr0 10.244.0.1/24, fd00:244::1/64 (bridge, hairpin on every port)
//                                  ├── pod1 10.244.0.11, fd00:244::11
//                                  ├── pod2 10.244.0.12, fd00:244::12
//                                  └── pod3 10.244.0.13, fd00:244::13
//
// Every pod runs a tiny Node.js server: TCP :8080 and UDP :8053, over IPv4 and IPv6, answer
// "<pod> <source address>".
// Namespaces get a unique prefix per run and are always deleted (afterAll, and on process exit).
// Only processes this module started are killed, by pid.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { defined } from "./defined.js";

export const NODE_IP = "192.168.77.1";
export const CLIENT_IP = "192.168.77.2";
export const BRIDGE_IP = "10.244.0.1";
export const POD_IPS = ["10.244.0.11", "10.244.0.12", "10.244.0.13"] as const;
export const NODE_IP6 = "fd00:77::1";
export const CLIENT_IP6 = "fd00:77::2";
export const BRIDGE_IP6 = "fd00:244::1";
export const POD_IP6S = ["fd00:244::11", "fd00:244::12", "fd00:244::13"] as const;

const SERVER = `
const net = require("node:net"), dgram = require("node:dgram");
const name = process.argv[1];
setTimeout(() => process.exit(0), 240000);
let up = 0;
const ready = () => { if (++up === 4) process.stdout.write("ready\\n"); };
for (const host of ["0.0.0.0", "::"]) {
  net.createServer((s) => { s.on("error", () => {}); s.end(name + " " + s.remoteAddress.replace(/^::ffff:/, "") + "\\n"); })
    .listen({ port: 8080, host, ipv6Only: host === "::" }, ready);
  const u = dgram.createSocket({ type: host === "::" ? "udp6" : "udp4", ipv6Only: host === "::" });
  u.on("message", (m, r) => u.send(name + " " + r.address + "\\n", r.port, r.address));
  u.bind(8053, host, ready);
}
`;

// Sequential probes; prints {"counts":{"pod1 10.244.0.1":n,...,"refused":n,"timeout":n}}
const CLIENT = `
const net = require("node:net"), dgram = require("node:dgram");
const [host, port, n, proto, timeout] = [process.argv[1], +process.argv[2], +process.argv[3], process.argv[4], +process.argv[5]];
const counts = {};
const add = (k) => { counts[k] = (counts[k] || 0) + 1; };
function tcp() {
  return new Promise((done) => {
    let out = "", settled = false;
    const finish = (k) => { if (!settled) { settled = true; add(k); s.destroy(); done(); } };
    const s = net.connect({ host, port });
    s.setTimeout(timeout, () => finish("timeout"));
    s.on("data", (d) => { out += d; });
    s.on("end", () => finish(out.trim() || "empty"));
    s.on("error", (e) => finish(e.code === "ECONNREFUSED" ? "refused" : e.code === "EHOSTUNREACH" ? "unreachable" : "error:" + e.code));
  });
}
function udp() {
  return new Promise((done) => {
    const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
    let settled = false;
    const finish = (k) => { if (!settled) { settled = true; add(k); clearTimeout(t); s.close(); done(); } };
    const t = setTimeout(() => finish("timeout"), timeout);
    s.on("message", (m) => finish(String(m).trim()));
    s.on("error", (e) => finish(e.code === "ECONNREFUSED" ? "refused" : "error:" + e.code));
    s.connect(port, host, () => s.send("ping"));
  });
}
(async () => {
  for (let i = 0; i < n; i++) await (proto === "udp" ? udp() : tcp());
  process.stdout.write(JSON.stringify({ counts }));
})();
`;

/** What a batch of probes saw: replies keyed `"<pod> <source seen by the pod>"`, or an error kind. */
export type ProbeCounts = Record<string, number>;

/** Prerequisites of kernel tests; returns why they cannot run, or undefined. */
export function kernelTestBlocker(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root";
  for (const tool of ["ip", "iptables-restore", "ip6tables-restore", "iptables-save", "bridge"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      return `missing tool: ${tool} (Debian packages iproute2, iptables)`;
    }
  }
  return undefined;
}

/** {@link kernelTestBlocker}, and nft (the nftables mode's kernel tests). */
export function nftKernelTestBlocker(): string | undefined {
  const b = kernelTestBlocker();
  if (b) return b;
  try {
    execFileSync("sh", ["-c", "command -v nft"], { stdio: "ignore" });
  } catch {
    return "missing tool: nft (Debian package nftables)";
  }
  return undefined;
}

function run(args: string[], input?: string): string {
  return execFileSync(defined(args[0]), args.slice(1), { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

/** The topology of one test run. */
export class Topology {
  readonly prefix = `kpr${randomBytes(3).toString("hex")}`;
  readonly node = `${this.prefix}-node`;
  readonly client = `${this.prefix}-client`;
  readonly pods = [1, 2, 3].map((i) => `${this.prefix}-pod${i}`);
  private readonly created: string[] = [];
  private readonly servers: ChildProcess[] = [];
  private readonly onExit = () => this.destroy();

  /** Runs a command inside a namespace. */
  exec(ns: string, args: string[], input?: string): string {
    return run(["ip", "netns", "exec", ns, ...args], input);
  }

  async create(): Promise<void> {
    process.on("exit", this.onExit);
    for (const ns of [this.node, this.client, ...this.pods]) {
      run(["ip", "netns", "add", ns]);
      this.created.push(ns);
      run(["ip", "-n", ns, "link", "set", "lo", "up"]);
    }
    const n = this.node;
    run(["ip", "-n", n, "link", "add", "cbr0", "type", "bridge"]);
    run(["ip", "-n", n, "addr", "add", `${BRIDGE_IP}/24`, "dev", "cbr0"]);
    run(["ip", "-n", n, "link", "set", "cbr0", "up"]);
    this.pods.forEach((pod, i) => {
      const veth = `vethp${i + 1}`;
      run(["ip", "-n", n, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pod]);
      run(["ip", "-n", n, "link", "set", veth, "master", "cbr0", "up"]);
      this.exec(n, ["bridge", "link", "set", "dev", veth, "hairpin", "on"]);
      run(["ip", "-n", pod, "addr", "add", `${POD_IPS[i]}/24`, "dev", "eth0"]);
      run(["ip", "-n", pod, "link", "set", "eth0", "up"]);
      run(["ip", "-n", pod, "route", "add", "default", "via", BRIDGE_IP]);
      run(["ip", "-n", pod, "addr", "add", `${POD_IP6S[i]}/64`, "dev", "eth0", "nodad"]);
      run(["ip", "-n", pod, "-6", "route", "add", "default", "via", BRIDGE_IP6]);
    });
    run(["ip", "-n", n, "addr", "add", `${BRIDGE_IP6}/64`, "dev", "cbr0", "nodad"]);
    run(["ip", "-n", n, "link", "add", "ext0", "type", "veth", "peer", "name", "eth0", "netns", this.client]);
    run(["ip", "-n", n, "addr", "add", `${NODE_IP}/24`, "dev", "ext0"]);
    run(["ip", "-n", n, "link", "set", "ext0", "up"]);
    run(["ip", "-n", this.client, "addr", "add", `${CLIENT_IP}/24`, "dev", "eth0"]);
    run(["ip", "-n", this.client, "link", "set", "eth0", "up"]);
    // the client reaches every service address through the node
    run(["ip", "-n", this.client, "route", "add", "default", "via", NODE_IP]);
    run(["ip", "-n", n, "route", "add", "default", "via", CLIENT_IP]);
    run(["ip", "-n", n, "addr", "add", `${NODE_IP6}/64`, "dev", "ext0", "nodad"]);
    run(["ip", "-n", this.client, "addr", "add", `${CLIENT_IP6}/64`, "dev", "eth0", "nodad"]);
    run(["ip", "-n", this.client, "-6", "route", "add", "default", "via", NODE_IP6]);
    run(["ip", "-n", n, "-6", "route", "add", "default", "via", CLIENT_IP6]);
    if (!existsSync("/proc/sys/net/bridge")) {
      try {
        run(["modprobe", "br_netfilter"]);
      } catch {
        // reported by the sysctl below
      }
    }
    this.exec(n, [
      "sysctl",
      "-qw",
      "net.ipv4.ip_forward=1",
      "net.bridge.bridge-nf-call-iptables=1",
      "net.ipv4.conf.all.route_localnet=1",
      "net.ipv6.conf.all.forwarding=1",
      "net.bridge.bridge-nf-call-ip6tables=1",
    ]);
    await Promise.all(this.pods.map((pod, i) => this.startServer(pod, `pod${i + 1}`)));
  }

  private startServer(ns: string, name: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", SERVER, name], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      this.servers.push(child);
      let seen = "";
      const timer = setTimeout(() => reject(new Error(`server in ${ns} did not start`)), 10_000);
      defined(child.stdout).on("data", (d) => {
        seen += d;
        if (seen.includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        if (!seen.includes("ready")) reject(new Error(`server in ${ns} exited (${code})`));
      });
    });
  }

  /** `iptables-restore --noflush` (or ip6tables-restore) of a payload in the node namespace. */
  restore(text: string, family: "IPv4" | "IPv6" = "IPv4", extra: string[] = []): void {
    this.exec(this.node, [family === "IPv4" ? "iptables-restore" : "ip6tables-restore", "--noflush", ...extra], text);
  }

  /**
   * Packets the node's filter rule in `chain` with `target` for `destination` has matched (0 when
   * there is no such rule), from `iptables -L -v` (or `ip6tables`).
   */
  rulePackets(family: "IPv4" | "IPv6", chain: string, target: string, destination: string): number {
    const listing = this.exec(this.node, [
      family === "IPv4" ? "iptables" : "ip6tables",
      "-t",
      "filter",
      "-L",
      chain,
      "-v",
      "-n",
      "-x",
    ]);
    const line = listing.split("\n").find((l) => l.includes(target) && l.includes(destination));
    return line === undefined ? 0 : Number(line.trim().split(/\s+/)[0]);
  }

  /** Sends `n` sequential TCP connections (or UDP datagrams) from a namespace; counts the answers. */
  probe(
    ns: string,
    host: string,
    port: number,
    n: number,
    opts: { udp?: boolean | undefined; timeoutMs?: number | undefined } = {},
  ): Promise<ProbeCounts> {
    const args = ["netns", "exec", ns, process.execPath, "-e", CLIENT, host, String(port), String(n)];
    args.push(opts.udp ? "udp" : "tcp", String(opts.timeoutMs ?? 1000));
    return new Promise((resolve, reject) => {
      const child = spawn("ip", args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        err += d;
      });
      child.on("exit", (code) => {
        if (code !== 0) reject(new Error(`probe from ${ns} failed (${code}): ${err}`));
        else resolve((JSON.parse(out) as { counts: ProbeCounts }).counts);
      });
    });
  }

  destroy(): void {
    for (const s of this.servers) {
      if (s.exitCode === null && s.pid) {
        try {
          process.kill(s.pid);
        } catch {
          // already gone
        }
      }
    }
    this.servers.length = 0;
    for (const ns of this.created.splice(0)) {
      try {
        run(["ip", "netns", "del", ns]);
      } catch {
        // best effort
      }
    }
    process.off("exit", this.onExit);
  }
}

/** Replies per pod, ignoring the source address part. */
export function byPod(counts: ProbeCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(counts)) {
    const pod = defined(k.split(" ")[0]);
    out[pod] = (out[pod] ?? 0) + v;
  }
  return out;
}

/** Pearson's chi-square statistic of counts against a uniform split over `keys`. */
export function chiSquareUniform(counts: Record<string, number>, keys: readonly string[]): number {
  const total = keys.reduce((s, k) => s + (counts[k] ?? 0), 0);
  const expected = total / keys.length;
  return keys.reduce((s, k) => s + ((counts[k] ?? 0) - expected) ** 2 / expected, 0);
}
