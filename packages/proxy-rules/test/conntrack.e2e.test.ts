// End to end on the real kernel: a UDP flow keeps the endpoint conntrack chose for it after the
// rules change (the stale entry kube-proxy's reconciler exists for), and the entries
// planConntrackCleanup picks from `conntrack -L`, deleted with `conntrack -D`, move it to the
// current endpoint — or to the REJECT rule once the Service has none.
// Required in CI (CI=true); skipped with a reason elsewhere when not root or tools are missing.

import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  conntrackArgs,
  createProxier,
  type IptablesCompilation,
  type ProxyInput,
  parseConntrack,
  planConntrackCleanup,
} from "../src/index.js";
import { defined } from "./support/defined.js";
import { kernelTestBlocker, NODE_IP, POD_IPS, Topology } from "./support/netns.js";
import { service, slice } from "./support/objects.js";

function blocker(): string | undefined {
  const kernel = kernelTestBlocker();
  if (kernel) return kernel;
  try {
    execFileSync("sh", ["-c", "command -v conntrack"], { stdio: "ignore" });
  } catch {
    return "missing tool: conntrack (Debian package conntrack)";
  }
  return undefined;
}

const why = blocker();
const required = process.env.CI === "true";
if (why && !required) console.warn(`conntrack e2e tests skipped: ${why}`);

const NODE = "e2e-node";
const VIP = "10.96.0.70";
const [pod1, pod2] = POD_IPS;

const stream = service({ name: "stream", clusterIP: VIP, ports: [{ name: "s", port: 53, protocol: "UDP" }] });
const input = (ips: string[]): ProxyInput => ({
  services: [stream],
  endpointSlices: [
    slice(
      { service: "stream" },
      [{ name: "s", port: 8053, protocol: "UDP" }],
      ips.map((ip) => ({ ip, node: NODE })),
    ),
  ],
  node: { name: NODE, addresses: [NODE_IP] },
  config: { clusterCIDR: "10.244.0.0/16" },
  host: { nfacct: false },
});

// One UDP socket on a fixed source port, connected to host:port: sends n datagrams one after the
// other and prints who answered each ("pod1"…, "timeout", "refused").
const FLOW = `
const dgram = require("node:dgram");
const [host, port, sport, n] = [process.argv[1], +process.argv[2], +process.argv[3], +process.argv[4]];
const s = dgram.createSocket("udp4"), got = [];
let sent = 0, timer;
const next = () => {
  clearTimeout(timer);
  if (sent++ === n) { process.stdout.write(JSON.stringify(got)); s.close(); return; }
  timer = setTimeout(() => { got.push("timeout"); next(); }, 1000);
  s.send("ping");
};
s.on("message", (m) => { got.push(String(m).split(" ")[0]); next(); });
s.on("error", (e) => { got.push(e.code === "ECONNREFUSED" ? "refused" : "error:" + e.code); next(); });
s.bind(sport, () => s.connect(port, host, next));
`;

describe.skipIf(!!why && !required)("kernel: stale UDP conntrack entries, planned and deleted", () => {
  const topo = new Topology();
  let last: IptablesCompilation;
  const proxier = createProxier({ mode: "iptables" });
  /** The same flow (client port 40053 → VIP:53) each time: three datagrams. */
  const flow = () =>
    JSON.parse(topo.exec(topo.client, [process.execPath, "-e", FLOW, VIP, "53", "40053", "3"])) as string[];
  const sync = (ips: string[]) => {
    last = proxier.sync(input(ips));
    topo.restore(defined(last.ipv4).text);
    proxier.applied();
  };
  /** Packets the REJECT rule of the Service (no endpoints) has matched. */
  const rejected = () => topo.rulePackets("IPv4", "KUBE-SERVICES", "REJECT", VIP);
  const cleanup = (ips: string[]) => {
    const entries = parseConntrack(topo.exec(topo.node, ["conntrack", "-L", "-p", "udp"]));
    const plan = planConntrackCleanup(input(ips), entries);
    for (const f of plan) topo.exec(topo.node, ["conntrack", ...conntrackArgs(f)]);
    return plan;
  };

  beforeAll(async () => {
    if (why) throw new Error(`conntrack e2e tests are required in CI but cannot run: ${why}`);
    await topo.create();
    last = proxier.sync(input([pod1]));
    topo.exec(topo.node, ["iptables-restore"], defined(last.ipv4).text);
    topo.restore(defined(last.ipv4).jumpsText);
    proxier.applied();
  });
  afterAll(() => topo.destroy());

  it("a flow keeps its endpoint after the rules move to another one, until its entry is deleted", () => {
    expect(flow()).toEqual(["pod1", "pod1", "pod1"]);
    sync([pod2]);
    // the kernel keeps the DNAT the flow started with: the rules alone do not move it
    expect(flow()).toEqual(["pod1", "pod1", "pod1"]);
    const plan = cleanup([pod2]);
    expect(plan).toEqual([{ family: "IPv4", protocol: "udp", origDst: VIP, origPortDst: 53, replySrc: pod1 }]);
    expect(flow()).toEqual(["pod2", "pod2", "pod2"]);
    // nothing stale is left: a second plan is empty
    expect(cleanup([pod2])).toEqual([]);
  });

  it("a Service scaled to zero: the flow reaches the REJECT rule only once its entry is gone", () => {
    sync([]);
    expect(flow()).toEqual(["pod2", "pod2", "pod2"]);
    expect(rejected()).toBe(0);
    expect(cleanup([])).toEqual([{ family: "IPv4", protocol: "udp", origDst: VIP, origPortDst: 53, replySrc: pod2 }]);
    // no answer any more: every datagram meets the REJECT rule (Node's UDP sockets do not report
    // the ICMP error, so the rule's counter tells)
    expect(flow()).toEqual(["timeout", "timeout", "timeout"]);
    expect(rejected()).toBe(3);
  });
});
