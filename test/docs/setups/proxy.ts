// biome-ignore-all lint/correctness/noUnusedVariables: the names are for the fragment placed at SNIPPET
// biome-ignore-all lint/correctness/noUnusedImports: the names are for the fragment placed at SNIPPET
// Setup of the fragments of docs/proxy-rules.md. The objects: a ClusterIP Service `kube-system/dns`
// (UDP 53) with two ready endpoints on node-1; `input` is them on node-1, `nextInput` the same after
// one endpoint went away. Stand-ins for the node: `execFileSync` answers `iptables-save` with the
// compiled rules of `input` and `conntrack -L` with a flow to the endpoint that went away; other
// commands (`conntrack -D …`) are recorded in `setupCommands`, not run. `load` is an
// iptables-restore that succeeds. The IPVS outputs are those of a fresh node (empty).
import * as setupProxy from "@nodekit/proxy-rules";

const services: setupProxy.Service[] = [
  {
    metadata: { namespace: "kube-system", name: "dns" },
    spec: { clusterIP: "10.96.0.10", ports: [{ name: "dns", port: 53, protocol: "UDP" }] },
  },
];
const setupSlice = (ips: string[]): setupProxy.EndpointSlice => ({
  metadata: { namespace: "kube-system", name: "dns-abcde", labels: { "kubernetes.io/service-name": "dns" } },
  addressType: "IPv4",
  endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: "node-1" })),
  ports: [{ name: "dns", port: 5353, protocol: "UDP" }],
});
const endpointSlices = [setupSlice(["10.244.0.11", "10.244.0.12"])];
const setupNode = { name: "node-1", addresses: ["192.168.77.1"] };
const input: setupProxy.ProxyInput = {
  services,
  endpointSlices,
  node: setupNode,
  config: { clusterCIDR: "10.244.0.0/16" },
};
const nextInput: setupProxy.ProxyInput = { ...input, endpointSlices: [setupSlice(["10.244.0.11"])] };
const setupCommands: string[][] = [];
function execFileSync(file: string, args: readonly string[], _options?: { encoding: "utf8" }): string {
  if (file === "iptables-save") return setupProxy.compileIptables(input).ipv4?.text ?? "";
  if (file === "conntrack" && args[0] === "-L") {
    return "udp      17 29 src=10.244.0.5 dst=10.96.0.10 sport=40000 dport=53 src=10.244.0.12 dst=10.244.0.5 sport=5353 dport=40000 mark=0 use=1\n";
  }
  setupCommands.push([file, ...args]);
  return "";
}
function load(text: string): boolean {
  return text.endsWith("COMMIT\n");
}
const ipvsadmSave = "";
const ipvsadmList = "";
const ipsetSave = "";
const ipAddrShow = "";

/* SNIPPET */
